/// Failures of the core: native files, zip archives, .npy files, architectures and conversions.
/// Every message says what went wrong, where, and what the user can do.
public enum VGGError: Error, CustomStringConvertible, Sendable {
    case fileNotFound(path: String, expected: String)
    case notAFile(path: String, kind: String, expected: String)
    case io(path: String, operation: String, errno: Int32)
    case outputExists(path: String)
    /// The output path names something other than a regular file (a device, FIFO, socket, directory).
    case outputNotRegular(path: String, kind: String)
    case sameInputAndOutput(path: String)
    case checksumMismatch(path: String, tensor: String, expected: String, actual: String)
    case badZip(path: String, problem: ZipProblem)
    case badNpy(path: String, reason: String)
    case badImage(path: String, reason: String)
    case badSafetensors(path: String, reason: String)
    case unsupportedLayer(name: String, type: String, position: Int, hint: String)
    case unexpectedShape(tensor: String, layer: String, expected: [Int], actual: [Int])
    case architecture(reason: String)
    case unsupportedDType(tensor: String, dtype: String, reason: String)
    case tensorNotFound(name: String, path: String)
    case resourceLimit(path: String, reason: String)

    public var description: String {
        switch self {
        case .fileNotFound(let path, let expected):
            return "\(path): no such file; pass the path of \(expected)"
        case .notAFile(let path, let kind, let expected):
            return "\(path): is not a regular file (it is \(kind)); pass the path of \(expected)"
        case .io(let path, let operation, let code):
            let advice: String
            switch code {
            case ENOSPC, EDQUOT: advice = "free some space on that device or write the output elsewhere"
            case EROFS: advice = "the filesystem is read-only: write the output elsewhere"
            case EIO: advice = "the device reported an I/O error: check it, or use another device"
            default: advice = "check the path and its permissions"
            }
            return "\(path): cannot \(operation): \(String(cString: strerror(code))) (errno \(code)); \(advice)"
        case .outputNotRegular(let path, let kind):
            return "\(path) is \(kind); vggconv writes only to regular files and never replaces anything else, even when allowed to overwrite: choose another output path"
        case .outputExists(let path):
            return "\(path) already exists"
        case .sameInputAndOutput(let path):
            return "\(path) is both the input and the output; choose another output name"
        case .checksumMismatch(let path, let tensor, let expected, let actual):
            return "\(path): tensor '\(SafeText.quote(tensor))' fails its checksum (header says crc32 \(expected), data has \(actual)); the file is damaged, convert the source again"
        case .badZip(let path, let problem):
            return "\(path): unreadable zip archive: \(problem)"
        case .badSafetensors(let path, let reason):
            return "\(path): unreadable safetensors file: \(reason)"
        case .badNpy(let path, let reason):
            return "\(path): unreadable .npy file: \(reason)"
        case .badImage(let path, let reason):
            return "\(SafeText.quote(path)): unreadable image: \(reason)"
        case .unsupportedLayer(let name, let type, let position, let hint):
            return "unsupported layer \(SafeText.quote(name)) (type \(SafeText.quote(type))) at position \(position)" + (hint.isEmpty ? "" : "; \(hint)")
        case .unexpectedShape(let tensor, let layer, let expected, let actual):
            return "weight \(SafeText.quote(tensor)) of layer \(SafeText.quote(layer)) has shape \(actual) but the architecture needs \(expected); the weights do not belong to this architecture"
        case .architecture(let reason):
            return reason
        case .unsupportedDType(let tensor, let dtype, let reason):
            return "tensor \(SafeText.quote(tensor)): dtype \(dtype) \(reason)"
        case .resourceLimit(let path, let reason):
            return "\(path): refused: \(reason)"
        case .tensorNotFound(let name, let path):
            return "\(path): no tensor named '\(SafeText.quote(name))'"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
