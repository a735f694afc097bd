/// Element types a tensor can hold, named as NumPy names them.
public enum DType: String, Codable, CaseIterable, Sendable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// True for the floating-point types that `--dtype` may convert between.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }

    /// The short spelling used on the command line (`f32`, `f16`, `bf16`, `f64`).
    public init?(shortName: String) {
        switch shortName.lowercased() {
        case "f32", "float32": self = .float32
        case "f16", "float16", "half": self = .float16
        case "bf16", "bfloat16": self = .bfloat16
        case "f64", "float64", "double": self = .float64
        default: return nil
        }
    }
}
