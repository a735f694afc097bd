import FileIO
import VGGCore

/// Failures reading PyTorch files. Every message names the file and, for pickle problems, the byte
/// offset and opcode. File-provided names are escaped and cut by `SafeText`.
public enum TorchFormatError: Error, CustomStringConvertible, Sendable {
    case refusedGlobal(path: String, global: String)
    case malformedPickle(path: String, offset: Int, reason: String)
    case notPyTorch(path: String, reason: String)
    case unsupported(path: String, feature: Unsupported)
    case badTensor(path: String, name: String, reason: String)
    case noStateDict(path: String, reason: String)
    /// The file was asserted to hold a torchvision model (`vgg16_bn`) and holds another (nil: not a torchvision VGG).
    case notAssertedArchitecture(path: String, asserted: String, found: String?)
    /// The state_dict's keys do not lay out a VGG's modules.
    case moduleLayout(path: String, problem: ModuleLayoutProblem)

    /// Something valid in PyTorch that vggconv does not read.
    public enum Unsupported: Sendable, Equatable {
        case torchScript
        /// The tar-based format of 2017 and earlier.
        case tarArchive
        case legacyProtocol(version: String)
        /// A complex or quantized storage.
        case storageType(String)
        /// Objects nested deeper than `limit` levels at `key`.
        case nesting(key: String, limit: Int)
        /// Containers shared so often that listing them would visit more than `visitLimit` values.
        case sharedContainers(visitLimit: Int)
    }

    /// How a state_dict's keys fail to lay out a VGG's modules.
    public enum ModuleLayoutProblem: Sendable, Equatable {
        /// Not `container.N.weight`-like.
        case notAParameter(key: String)
        case indexOutOfRange(key: String)
        case indicesNotIncreasing(container: String, at: String)
        /// More parameter-free modules between two weighted ones than a VGG has.
        case gapTooLong(modules: Int, after: String, before: String, limit: Int)
    }

    public var description: String {
        switch self {
        case .refusedGlobal(let path, let global):
            let refusal = "\(path): refusing to load global \(SafeText.quote(global)) (not a tensor constructor); vggconv never executes code from a pickle"
            return Self.namesAClass(global) ? refusal + Self.wholeModelHint : refusal
        case .malformedPickle(let path, let offset, let reason):
            return "\(path): malformed pickle at byte \(offset): \(reason)"
        case .notPyTorch(let path, let reason):
            return "\(path): not a PyTorch file: \(reason)"
        case .unsupported(let path, let feature):
            return "\(path): " + Self.phrase(feature)
        case .badTensor(let path, let name, let reason):
            return "\(path): tensor '\(SafeText.quote(name))': \(reason)"
        case .noStateDict(let path, let reason):
            return "\(path): \(reason)"
        case .notAssertedArchitecture(let path, let asserted, let found):
            return "\(path): it was asserted to hold \(asserted), but it holds \(found.map { "torchvision's \($0)" } ?? "a VGG-style network that is not a torchvision VGG")"
        case .moduleLayout(let path, let problem):
            return "\(path): " + Self.phrase(problem)
        }
    }

    private static func phrase(_ feature: Unsupported) -> String {
        switch feature {
        case .torchScript: return "this is a TorchScript archive (torch.jit.save), not a state_dict; save model.state_dict() with torch.save"
        case .tarArchive: return "this is the tar-based PyTorch format of 2017 and earlier, which vggconv does not read; load and re-save it with torch.save"
        case .legacyProtocol(let version): return "legacy protocol version \(version) is not 1001"
        case .storageType(let name): return "storage type \(name) (complex or quantized) is not supported"
        case .nesting(let key, let limit): return "objects nest deeper than \(limit) levels at '\(SafeText.quote(key))'"
        case .sharedContainers(let limit):
            return "the pickle shares containers so often that listing it would visit more than \(limit) values (more than its own size); refusing to unfold it"
        }
    }

    private static func phrase(_ problem: ModuleLayoutProblem) -> String {
        switch problem {
        case .notAParameter(let key):
            return "key '\(SafeText.quote(key))' is not a module parameter (expected features.N.weight, backbone.N.bias, head.weight, …); `inspect` lists any state_dict"
        case .indexOutOfRange(let key): return "key '\(SafeText.quote(key))' has a module index out of range"
        case .indicesNotIncreasing(let container, let at):
            return "module indices of \(SafeText.quote(container)) are not increasing at \(SafeText.quote(at))"
        case .gapTooLong(let modules, let after, let before, let limit):
            return "\(modules) modules without weights between \(SafeText.quote(after)) and \(SafeText.quote(before)); a VGG has at most \(limit) (ReLU, MaxPool, Dropout) between weighted layers"
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
