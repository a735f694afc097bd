import FileIO
import VGGCore

/// Failures reading PyTorch files. Every message names the file and, for pickle problems, the byte
/// offset and opcode. File-provided names are escaped and cut by `SafeText`.
public enum TorchFormatError: Error, CustomStringConvertible, Sendable {
    case refusedGlobal(path: String, global: String)
    case malformedPickle(path: String, offset: Int, reason: String)
    case notPyTorch(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case badTensor(path: String, name: String, reason: String)
    case noStateDict(path: String, reason: String)
    case architecture(path: String, reason: String)

    public var description: String {
        switch self {
        case .refusedGlobal(let path, let global):
            let refusal = "\(path): refusing to load global \(SafeText.quote(global)) (not a tensor constructor); vggconv never executes code from a pickle"
            return Self.namesAClass(global) ? refusal + Self.wholeModelHint : refusal
        case .malformedPickle(let path, let offset, let reason):
            return "\(path): malformed pickle at byte \(offset): \(reason)"
        case .notPyTorch(let path, let reason):
            return "\(path): not a PyTorch file: \(reason)"
        case .unsupported(let path, let reason):
            return "\(path): \(reason)"
        case .badTensor(let path, let name, let reason):
            return "\(path): tensor '\(SafeText.quote(name))': \(reason)"
        case .noStateDict(let path, let reason):
            return "\(path): \(reason)"
        case .architecture(let path, let reason):
            return "\(path): \(reason)"
        }
    }

    /// What to do with a pickled object rather than a state_dict (`torch.save(model)`): its classes are
    /// globals (`torchvision.models.vgg.VGG`, `__main__.Net`) that only running their code rebuilds.
    static let wholeModelHint = "; it holds a whole pickled object, e.g. torch.save(model): where you trust the file, save model.state_dict() instead and convert that"

    /// True for `module.Name` with a capitalised last part: a class, by Python's naming convention
    /// (functions such as `posix.system` or `builtins.eval` are lower case and get no hint).
    static func namesAClass(_ global: String) -> Bool {
        guard let last = global.split(separator: ".").last, let first = last.unicodeScalars.first else { return false }
        return global.contains(".") && first.properties.isUppercase
    }
}
