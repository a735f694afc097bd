import FileIO

/// A file that is not a `.vggw` this vggconv reads, or one damaged: each cause as data.
public enum NativeFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file does not start with the VGGW magic bytes.
    case notNative(path: String)
    /// A format version this vggconv does not read.
    case unsupportedVersion(path: String, version: Int, supported: Int)
    case corrupt(path: String, damage: Damage)

    /// How a `.vggw` file is damaged.
    public enum Damage: Sendable, Equatable, CustomStringConvertible {
        case shorterThanPreamble(fileSize: Int, preamble: Int)
        case headerTooLong(declared: UInt64, limit: Int)
        case headerPastEnd(length: Int, fileSize: Int)
        /// The header is not the JSON the format defines (the decoder's complaint).
        case headerInvalid(String)
        case wrongLayout(format: String, byteOrder: String, alignment: Int)
        case duplicateTensor(String)
        case sizeMismatch(tensor: String, nbytes: Int, shape: [Int], dtype: DType)
        case misaligned(tensor: String, offset: Int, alignment: Int)
        /// A tensor not where the previous one ends, rounded up to the alignment.
        case notContiguous(tensor: String, offset: Int, previousEnd: Int, alignment: Int)
        case nonZeroPadding(tensor: String)
        case dataPastEnd(tensor: String, offset: Int, nbytes: Int, fileSize: Int)
        case checksumText(tensor: String, text: String)
        case trailingBytes(Int)
        /// The architecture fails `ModelCheck`.
        case architecture(LayerSchema.Problem)

        /// True when the file looks cut short rather than damaged inside.
        public var truncated: Bool {
            switch self {
            case .shorterThanPreamble, .headerPastEnd, .dataPastEnd: return true
            default: return false
            }
        }

        public var description: String {
            switch self {
            case .shorterThanPreamble(let size, let preamble): return "file is \(size) bytes, shorter than the \(preamble)-byte preamble"
            case .headerTooLong(let declared, let limit): return "header length \(declared) exceeds the \(limit)-byte limit"
            case .headerPastEnd(let length, let size): return "header of \(length) bytes runs past the end of the \(size)-byte file (truncated?)"
            case .headerInvalid(let why): return "header is not valid: \(why)"
            case .wrongLayout(let format, let byteOrder, let alignment):
                return "header declares format \(SafeText.quote(format)), byte order \(SafeText.quote(byteOrder)), alignment \(alignment); expected \(NativeFormat.name), little, \(NativeFormat.alignment)"
            case .duplicateTensor(let name): return "tensor name '\(SafeText.quote(name))' appears twice"
            case .sizeMismatch(let tensor, let nbytes, let shape, let dtype):
                return "tensor '\(SafeText.quote(tensor))': nbytes \(nbytes) does not match shape \(shape) of \(dtype.rawValue)"
            case .misaligned(let tensor, let offset, let alignment):
                return "tensor '\(SafeText.quote(tensor))': offset \(offset) is not \(alignment)-byte aligned"
            case .notContiguous(let tensor, let offset, let end, let alignment):
                return "tensor '\(SafeText.quote(tensor))': offset \(offset) is not where the previous data ends (\(end)) rounded up to \(alignment) bytes"
            case .nonZeroPadding(let tensor): return "padding before tensor '\(SafeText.quote(tensor))' is not zero bytes"
            case .dataPastEnd(let tensor, let offset, let nbytes, let size):
                return "tensor '\(SafeText.quote(tensor))': bytes \(offset)..<\(offset + nbytes) run past the end of the \(size)-byte file (truncated?)"
            case .checksumText(let tensor, let text): return "tensor '\(SafeText.quote(tensor))': crc32 '\(SafeText.quote(text))' is not 8 hex digits"
            case .trailingBytes(let count): return "\(count) unexpected bytes after the last tensor"
            case .architecture(let problem): return "architecture check failed: \(problem.reason)"
            }
        }
    }

    public var description: String {
        switch self {
        case .notNative(let path): return "\(path): not a vggconv native (.vggw) file: it does not start with the VGGW magic bytes"
        case .unsupportedVersion(let path, let version, let supported):
            return "\(path): not a vggconv native (.vggw) file: format version \(version) is not supported by this vggconv (reads version \(supported)); upgrade vggconv"
        case .corrupt(let path, let damage): return "\(path): corrupt .vggw file: \(damage); convert the source file again"
        }
    }
}
