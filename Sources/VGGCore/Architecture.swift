import FileIO
/// The layer types vggconv understands, named as Keras names them.
public enum LayerType: String, Codable, Sendable, CaseIterable {
    case input = "InputLayer"
    case conv2d = "Conv2D"
    case maxPooling2d = "MaxPooling2D"
    case batchNormalization = "BatchNormalization"
    case activation = "Activation"
    case relu = "ReLU"
    case dropout = "Dropout"
    case flatten = "Flatten"
    case dense = "Dense"
    case softmax = "Softmax"
    case adaptiveAvgPool2d = "AdaptiveAvgPool2D"
    /// Averages each channel over the whole map: Keras `GlobalAveragePooling2D`, PyTorch `AdaptiveAvgPool2d(1)`.
    case globalAveragePooling2d = "GlobalAveragePooling2D"
    /// The maximum of each channel over the whole map: Keras `GlobalMaxPooling2D`, PyTorch `AdaptiveMaxPool2d(1)`.
    case globalMaxPooling2d = "GlobalMaxPooling2D"

    /// The global poolings, whose output does not depend on the input's height and width.
    public var isGlobalPooling: Bool { self == .globalAveragePooling2d || self == .globalMaxPooling2d }
}

/// Padding modes of convolutions and pools.
public enum Padding: String, Codable, Sendable {
    case same, valid
}

/// The configuration of one layer; only the fields its type uses are set.
public struct LayerConfig: Codable, Equatable, Sendable {
    public var filters: Int?
    public var kernelSize: [Int]?
    public var strides: [Int]?
    public var padding: Padding?
    public var activation: String?
    public var useBias: Bool?
    public var units: Int?
    public var poolSize: [Int]?
    public var epsilon: Double?
    public var center: Bool?
    public var scale: Bool?
    public var rate: Double?
    public var outputSize: [Int]?
    /// Global pooling keeps a 1×1 map (Keras `keepdims=True`) instead of a flat vector.
    public var keepDims: Bool?

    public init(filters: Int? = nil, kernelSize: [Int]? = nil, strides: [Int]? = nil, padding: Padding? = nil,
                activation: String? = nil, useBias: Bool? = nil, units: Int? = nil, poolSize: [Int]? = nil,
                epsilon: Double? = nil, center: Bool? = nil, scale: Bool? = nil, rate: Double? = nil,
                outputSize: [Int]? = nil, keepDims: Bool? = nil) {
        self.filters = filters
        self.kernelSize = kernelSize
        self.strides = strides
        self.padding = padding
        self.activation = activation
        self.useBias = useBias
        self.units = units
        self.poolSize = poolSize
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.rate = rate
        self.outputSize = outputSize
        self.keepDims = keepDims
    }
}

/// What a parameter tensor is for, independent of framework naming.
public enum ParameterRole: String, Codable, Sendable, CaseIterable {
    case kernel, bias, gamma, beta, movingMean, movingVariance

    /// The canonical tensor-name suffix (`.weight`, `.bias`, `.running_mean`, `.running_var`).
    public var canonicalSuffix: String {
        switch self {
        case .kernel, .gamma: return "weight"
        case .bias, .beta: return "bias"
        case .movingMean: return "running_mean"
        case .movingVariance: return "running_var"
        }
    }

    /// The canonical name of this parameter of layer `layer` (`block1_conv1.weight`): the one place
    /// canonical tensor names are made.
    public func tensorName(ofLayer layer: String) -> String { "\(layer).\(canonicalSuffix)" }

    /// The variable's name in Keras 2 and 3 (`block1_conv1/kernel:0`, `…/moving_variance`).
    public var kerasName: String {
        switch self {
        case .kernel: return "kernel"
        case .bias: return "bias"
        case .gamma: return "gamma"
        case .beta: return "beta"
        case .movingMean: return "moving_mean"
        case .movingVariance: return "moving_variance"
        }
    }

    /// Keras counts BatchNormalization's moving statistics as non-trainable.
    public var isTrainable: Bool { self != .movingMean && self != .movingVariance }
}

/// One parameter of a source layer.
public struct SourceParameter: Sendable {
    public var role: ParameterRole
    public var tensor: SourceTensor
    public init(role: ParameterRole, tensor: SourceTensor) {
        self.role = role
        self.tensor = tensor
    }
}

/// A model nested inside another (Keras's `vgg16 (Functional)` row in a `Sequential`), which a layer
/// belongs to: the nesting is kept so that summaries and Keras exports reproduce it.
public struct ModelScope: Codable, Equatable, Hashable, Sendable {
    /// The nested model's layer name (`vgg16`).
    public var name: String
    /// Its Keras class: one of `classNames`.
    public var className: String

    /// The Keras classes of a model used as a layer: tf-keras and Keras 3 `Functional`, older Keras
    /// `Model`, and `Sequential`.
    public static let classNames: Set<String> = ["Functional", "Sequential", "Model"]
    /// Models nested deeper than this are refused (a VGG inside a Sequential is depth 1).
    public static let maximumDepth = 16

    public init(name: String, className: String) {
        self.name = name
        self.className = className
    }
}

/// A layer as a reader found it: its source name, type, configuration and parameters.
public struct SourceLayer: Sendable {
    public var name: String
    public var type: LayerType
    public var config: LayerConfig
    public var parameters: [SourceParameter]
    /// The nested models around the layer, outermost first (empty at the top level).
    public var scopes: [ModelScope] = []
    /// False for a layer Keras froze (its own `trainable`, or a frozen model around it).
    public var trainable = true

    public init(name: String, type: LayerType, config: LayerConfig, parameters: [SourceParameter] = []) {
        self.name = name
        self.type = type
        self.config = config
        self.parameters = parameters
    }
}

/// Where the channel axis sits in the source framework's activations.
public enum DataFormat: String, Codable, Sendable {
    case channelsLast = "channels_last"
    case channelsFirst = "channels_first"
}

/// Everything a reader learned from a model file: ordered layers with their tensors, and facts about
/// the source (format, input shape, data format) that the conversion needs.
public struct SourceModel: Sendable {
    /// A short tag of the file flavour, e.g. `keras2-weights-h5`.
    public var format: String
    public var path: String
    public var layers: [SourceLayer]
    /// The input shape (H, W, C) when the file records it.
    public var inputShape: [Int]?
    public var dataFormat: DataFormat
    /// True when layer types or order were inferred from names and shapes rather than read from a config.
    public var architectureInferred: Bool
    /// Facts worth recording in provenance (assumed defaults and the like).
    public var notes: [String]
    /// The model's name (Keras's `Model: "vgg16"`, a recognised torchvision name), when known.
    public var modelName: String?
    /// Choices the reader made that the file does not record (their notes are in `notes`).
    public var assumptions: [Assumption] = []
    /// The optimizer state stored beside the weights (Keras 3 summaries count it), when there is one.
    public var optimizer: ModelSummary.OptimizerState?

    public init(format: String, path: String, layers: [SourceLayer], inputShape: [Int]?, dataFormat: DataFormat,
                architectureInferred: Bool, notes: [String] = []) {
        self.format = format
        self.path = path
        self.layers = layers
        self.inputShape = inputShape
        self.dataFormat = dataFormat
        self.architectureInferred = architectureInferred
        self.notes = notes
    }
}
