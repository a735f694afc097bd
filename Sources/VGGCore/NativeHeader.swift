import FileIO
/// The JSON header of a `.vggw` file (schema: `schemas/vggw-header.schema.json`, spec:
/// `docs/native-format.md`). Keys are written in snake_case.
public struct NativeHeader: Codable, Sendable {
    public var format: String = NativeFormat.name
    public var formatVersion: Int = NativeFormat.version
    public var byteOrder: String = "little"
    public var alignment: Int = NativeFormat.alignment
    public var layout: CanonicalLayout = CanonicalLayout()
    public var architecture: NativeArchitecture
    public var tensors: [NativeTensor]
    public var provenance: Provenance

    public init(architecture: NativeArchitecture, tensors: [NativeTensor], provenance: Provenance) {
        self.architecture = architecture
        self.tensors = tensors
        self.provenance = provenance
    }
}

/// The fixed canonical layout every native file declares.
public struct CanonicalLayout: Codable, Equatable, Sendable {
    public var convKernel = "OIHW"
    public var denseKernel = "OI"
    public var activations = "NCHW"
    public var flattenOrder = "CHW"
    public init() {}
}

/// The ordered layers of the model, with output shapes in canonical (C, H, W) or (N) order, no batch axis.
public struct NativeArchitecture: Codable, Sendable {
    /// The model input, (C, H, W).
    public var inputShape: [Int]
    public var layers: [NativeLayer]
    /// True when layer types or order were inferred from names and shapes instead of a saved config.
    public var inferred: Bool

    public init(inputShape: [Int], layers: [NativeLayer], inferred: Bool) {
        self.inputShape = inputShape
        self.layers = layers
        self.inferred = inferred
    }
}

/// One layer of the architecture.
public struct NativeLayer: Codable, Equatable, Sendable {
    /// Canonical Keras-style name (`block1_conv1`, `fc1`, `predictions`).
    public var name: String
    /// The layer's name (Keras) or module path (PyTorch) in the source file.
    public var sourceName: String
    public var type: LayerType
    public var config: LayerConfig
    /// Output shape without the batch axis, (C, H, W) or (N).
    public var outputShape: [Int]
    /// Canonical names of the layer's tensors, in order.
    public var parameters: [String]
    /// The nested models around the layer, outermost first; absent at the top level.
    public var scopes: [ModelScope]?
    /// False for a layer the source froze; absent when trainable.
    public var trainable: Bool?

    public init(name: String, sourceName: String, type: LayerType, config: LayerConfig, outputShape: [Int], parameters: [String],
                scopes: [ModelScope] = [], trainable: Bool = true) {
        self.name = name
        self.sourceName = sourceName
        self.type = type
        self.config = config
        self.outputShape = outputShape
        self.parameters = parameters
        self.scopes = scopes.isEmpty ? nil : scopes
        self.trainable = trainable ? nil : false
    }

    /// Whether the source trains this layer's weights (Keras counts frozen ones as non-trainable).
    public var isTrainable: Bool { trainable != false }
}

/// One tensor's entry in the header.
public struct NativeTensor: Codable, Equatable, Sendable {
    public var name: String
    public var sourceName: String
    public var dtype: DType
    public var shape: [Int]
    public var layout: TensorLayout
    /// Absolute byte offset of the data in the file; a multiple of the alignment.
    public var offset: Int
    public var nbytes: Int
    /// CRC-32 of the data, 8 lowercase hex digits.
    public var crc32: String

    public init(name: String, sourceName: String, dtype: DType, shape: [Int], layout: TensorLayout, offset: Int, nbytes: Int, crc32: String) {
        self.name = name
        self.sourceName = sourceName
        self.dtype = dtype
        self.shape = shape
        self.layout = layout
        self.offset = offset
        self.nbytes = nbytes
        self.crc32 = crc32
    }
}

/// Where a native file came from and what was done to get it.
public struct Provenance: Codable, Sendable {
    public var sourceFormat: String
    public var sourceFile: String
    public var sourceBytes: Int
    public var tool: String = "vggconv"
    public var toolVersion: String = VGGConvVersion.current
    /// One entry per tensor whose layout or dtype changed.
    public var conversions: [AppliedConversion]
    public var notes: [String]

    public init(sourceFormat: String, sourceFile: String, sourceBytes: Int, conversions: [AppliedConversion], notes: [String]) {
        self.sourceFormat = sourceFormat
        self.sourceFile = sourceFile
        self.sourceBytes = sourceBytes
        self.conversions = conversions
        self.notes = notes
    }
}

/// A conversion applied to one tensor.
public struct AppliedConversion: Codable, Equatable, Sendable {
    public var tensor: String
    public var layout: String
    public var fromShape: [Int]
    public var fromDtype: DType
    public var toDtype: DType
}

/// The version of this tool, recorded in provenance.
public enum VGGConvVersion {
    public static let current = "0.1.0"
}

/// Constants of the `.vggw` container.
public enum NativeFormat {
    public static let name = "vggw"
    public static let version = 1
    public static let alignment = 64
    /// `VGGW\r\n\x1a\n`: the line-ending bytes catch text-mode transfers, as PNG's signature does.
    public static let magic: [UInt8] = [0x56, 0x47, 0x47, 0x57, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Magic (8) + version u32 + reserved u32 + header length u64.
    public static let preambleSize = 24
    /// Headers larger than this are refused before any allocation.
    public static let maxHeaderSize = 64 << 20
}
