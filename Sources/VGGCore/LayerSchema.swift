import FileIO
/// The one table of what each layer type is: its parameters (roles, canonical suffixes, shapes), its
/// configuration defaults and limits, and how it changes the activation shape. Readers, the assembler,
/// the `.vggw` validator, the summary and the engine all ask this table, so they cannot disagree.
public enum LayerSchema {
    /// Limits on configuration values. Generous for any VGG-family model, small enough that every
    /// size derived from them fits in 64-bit arithmetic and no header field can ask for absurd buffers.
    public enum Limit {
        public static let layers = 4_096
        public static let kernelSide = 64
        public static let stride = 64
        public static let channels = 1 << 16
        public static let units = 1 << 24
        /// Height or width of any activation.
        public static let spatialSide = 1 << 15
        /// Elements of one sample's activation at any layer (4 GiB of float32).
        public static let activationElements = 1 << 30
    }

    /// Defaults Keras applies when a config leaves a field out.
    public enum Default {
        public static let strides = [1, 1]
        public static let poolSize = [2, 2]
        public static let padding = Padding.valid
        public static let batchNormEpsilon = SourceFramework.keras.batchNormEpsilon
    }

    /// A sliding window (convolution kernel or pooling) with its stride and padding.
    public struct Window: Equatable, Sendable {
        public var height: Int, width: Int, strideY: Int, strideX: Int
        public var padding: Padding
    }

    /// Why a layer's configuration or shape is not acceptable; callers add the layer's name and position.
    public struct Problem: Error, CustomStringConvertible, Sendable, Equatable {
        public let reason: String
        public var description: String { reason }
    }

    // MARK: configuration

    /// The convolution kernel window (kernel size required; strides default to 1, padding to valid).
    public static func convolutionWindow(_ config: LayerConfig) throws(Problem) -> Window {
        guard let kernel = config.kernelSize else { throw Problem(reason: "has no kernel_size") }
        return try window(kernel, config.strides ?? Default.strides, config.padding ?? Default.padding, what: "kernel_size")
    }

    /// The pooling window (pool size defaults to 2×2, strides to the pool size, padding to valid).
    public static func poolingWindow(_ config: LayerConfig) throws(Problem) -> Window {
        let pool = config.poolSize ?? Default.poolSize
        return try window(pool, config.strides ?? pool, config.padding ?? Default.padding, what: "pool_size")
    }

    private static func window(_ size: [Int], _ strides: [Int], _ padding: Padding, what: String) throws(Problem) -> Window {
        guard size.count == 2, size.allSatisfy({ (1...Limit.kernelSide).contains($0) }) else {
            throw Problem(reason: "has \(what) \(size); expected two sides between 1 and \(Limit.kernelSide)")
        }
        guard strides.count == 2, strides.allSatisfy({ (1...Limit.stride).contains($0) }) else {
            throw Problem(reason: "has strides \(strides); expected two values between 1 and \(Limit.stride)")
        }
        return Window(height: size[0], width: size[1], strideY: strides[0], strideX: strides[1], padding: padding)
    }

    /// The filter count of a convolution, checked.
    public static func filters(_ config: LayerConfig) throws(Problem) -> Int {
        guard let filters = config.filters, (1...Limit.channels).contains(filters) else {
            throw Problem(reason: "has filters \(config.filters.map(String.init) ?? "missing"); expected 1 to \(Limit.channels)")
        }
        return filters
    }

    /// The unit count of a dense layer, checked.
    public static func units(_ config: LayerConfig) throws(Problem) -> Int {
        guard let units = config.units, (1...Limit.units).contains(units) else {
            throw Problem(reason: "has units \(config.units.map(String.init) ?? "missing"); expected 1 to \(Limit.units)")
        }
        return units
    }

    // MARK: shapes

    /// The output shape (C, H, W) or (N) of a layer of `type` and `config` for one sample of `input`.
    /// - Throws: `Problem` when the configuration is out of range or the layer cannot take `input`.
    public static func outputShape(_ type: LayerType, _ config: LayerConfig, input: [Int]) throws(Problem) -> [Int] {
        _ = try Activation.of(config)
        switch (type, input.count) {
        case (.input, _), (.activation, _), (.relu, _), (.dropout, _), (.softmax, _), (.batchNormalization, _):
            return input
        case (.conv2d, 3):
            let window = try convolutionWindow(config)
            return try checked([try filters(config), outputSide(input[1], window.height, window.strideY, window.padding),
                                outputSide(input[2], window.width, window.strideX, window.padding)], "cannot take a \(input[1])x\(input[2]) input")
        case (.maxPooling2d, 3):
            let window = try poolingWindow(config)
            return try checked([input[0], outputSide(input[1], window.height, window.strideY, window.padding),
                                outputSide(input[2], window.width, window.strideX, window.padding)], "cannot pool a \(input[1])x\(input[2]) map")
        case (.adaptiveAvgPool2d, 3):
            let size = config.outputSize ?? [input[1], input[2]]
            guard size.count == 2, size.allSatisfy({ $0 > 0 }), input[1] % size[0] == 0, input[2] % size[1] == 0 else {
                throw Problem(reason: "averages a \(input[1])x\(input[2]) map to \(size), which is not an exact pooling")
            }
            return [input[0], size[0], size[1]]
        case (.globalAveragePooling2d, 3), (.globalMaxPooling2d, 3):
            return config.keepDims == true ? [input[0], 1, 1] : [input[0]]
        case (.flatten, 3):
            guard let count = ShapeMath.elementCount(input) else { throw Problem(reason: "flattens an input too large to count") }
            return [count]
        case (.flatten, 1):
            return input
        case (.dense, 1):
            return [try units(config)]
        case (.dense, _):
            throw Problem(reason: "receives a spatial map; a Flatten layer must come first")
        default:
            throw Problem(reason: "cannot follow a flat input")
        }
    }

    private static func checked(_ shape: [Int], _ why: String) throws(Problem) -> [Int] {
        guard shape.allSatisfy({ $0 > 0 }) else { throw Problem(reason: why) }
        return shape
    }

    /// Checks one sample's activation shape against the limits (positive sides, bounded size).
    public static func checkActivation(_ shape: [Int]) throws(Problem) {
        guard shape.count == 3 || shape.count == 1, shape.allSatisfy({ $0 > 0 }) else {
            throw Problem(reason: "activation shape \(shape) is not a positive (C, H, W) or (N) shape")
        }
        if shape.count == 3 {
            guard shape[0] <= Limit.channels, shape[1] <= Limit.spatialSide, shape[2] <= Limit.spatialSide else {
                throw Problem(reason: "activation shape \(shape) exceeds \(Limit.channels) channels or \(Limit.spatialSide) pixels a side")
            }
        }
        guard let count = ShapeMath.elementCount(shape), count <= Limit.activationElements else {
            throw Problem(reason: "activation shape \(shape) has more than \(Limit.activationElements) elements")
        }
    }

    /// Keras's output size of a window along one axis; 0 when the window does not fit.
    public static func outputSide(_ input: Int, _ kernel: Int, _ stride: Int, _ padding: Padding) -> Int {
        guard stride > 0, input > 0 else { return 0 }
        if padding == .same { return (input - 1) / stride + 1 }
        return input >= kernel ? (input - kernel) / stride + 1 : 0
    }

    // MARK: parameters

    /// The roles a layer of `type` may carry, in canonical order, and whether each is required.
    public static func roles(_ type: LayerType, _ config: LayerConfig) -> [(role: ParameterRole, required: Bool)] {
        switch type {
        case .conv2d, .dense:
            return [(.kernel, true)] + (config.useBias == false ? [] : [(.bias, false)])
        case .batchNormalization:
            return (config.scale == false ? [] : [(.gamma, false)]) + (config.center == false ? [] : [(.beta, false)])
                + [(.movingMean, true), (.movingVariance, true)]
        default:
            return []
        }
    }

    /// The canonical shape of a parameter: conv kernels (O, I, KH, KW), dense kernels (out, in),
    /// vectors (width). `input` is the layer's input shape (C, H, W) or (N).
    public static func parameterShape(_ role: ParameterRole, of type: LayerType, _ config: LayerConfig,
                                      input: [Int]) throws(Problem) -> [Int] {
        switch (type, role) {
        case (.conv2d, .kernel):
            let window = try convolutionWindow(config)
            guard input.count == 3 else { throw Problem(reason: "receives a flat input") }
            return [try filters(config), input[0], window.height, window.width]
        case (.conv2d, _):
            return [try filters(config)]
        case (.dense, .kernel):
            guard let inputs = ShapeMath.elementCount(input) else { throw Problem(reason: "has an input too large to count") }
            return [try units(config), inputs]
        case (.dense, _):
            return [try units(config)]
        case (.batchNormalization, _):
            // Keras normalises the channel axis; after Flatten that is the only axis.
            return [input.first ?? 0]
        default:
            throw Problem(reason: "has no parameters")
        }
    }

    /// Every parameter a layer carries (its config says which), with canonical shapes.
    public static func parameterShapes(of type: LayerType, _ config: LayerConfig, input: [Int]) throws(Problem)
        -> [(role: ParameterRole, shape: [Int])] {
        var shapes: [(role: ParameterRole, shape: [Int])] = []
        for (role, _) in roles(type, config) { shapes.append((role, try parameterShape(role, of: type, config, input: input))) }
        return shapes
    }

    /// The canonical layout tag of a parameter.
    public static func layout(_ role: ParameterRole, of type: LayerType) -> TensorLayout {
        switch (type, role) {
        case (.conv2d, .kernel): return .oihw
        case (.dense, .kernel): return .outIn
        default: return .vector
        }
    }
}
