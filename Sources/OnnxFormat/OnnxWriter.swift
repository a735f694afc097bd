import Foundation
import FileIO
import VGGCore

/// Writes a conversion plan as an ONNX model (ir_version 8, opset 17): a static NCHW graph of Conv,
/// Relu/Sigmoid/Tanh, MaxPool, AveragePool, BatchNormalization (with the file's epsilon), Flatten, Gemm
/// and Softmax, with a symbolic batch dimension `N` and initializers named after the canonical tensors.
/// Dropout is omitted (inference). Keras's 'same' padding becomes explicit, possibly asymmetric, pads.
/// Field numbers: onnx/onnx.proto (docs/exports.md, "Why ONNX is hand-encoded"). Tensor bytes are streamed into place.
public enum OnnxWriter {
    public static let irVersion = 8
    public static let opset = 17

    /// An initializer: a planned tensor (streamed) or a small constant made here (BatchNorm's implicit
    /// scale of ones or shift of zeros).
    private enum Initializer {
        case planned(PlannedTensor)
        case constant(name: String, values: [Float])

        var name: String {
            switch self {
            case .planned(let tensor): return tensor.name
            case .constant(let name, _): return name
            }
        }
        var shape: [Int] {
            switch self {
            case .planned(let tensor): return tensor.shape
            case .constant(_, let values): return [values.count]
            }
        }
        var dataType: Int {
            switch self {
            case .planned(let tensor): return OnnxWriter.dataTypes[tensor.dtype] ?? 0
            case .constant: return 1
            }
        }
        var nbytes: Int {
            switch self {
            case .planned(let tensor): return tensor.nbytes
            case .constant(_, let values): return values.count * 4
            }
        }
    }

    /// ONNX TensorProto.DataType for each dtype.
    static let dataTypes: [DType: Int] = [.float32: 1, .float16: 10, .bfloat16: 16, .float64: 11, .int64: 7]

    /// Writes `plan` to `path`. Weights must be float32 (ONNX operators need one float type throughout).
    /// - Throws: `VGGError` for unwritable outputs or dtypes other than float32.
    @discardableResult
    /// `channelsLastInput` adds a leading Transpose so the graph takes (N, H, W, C) like Keras.
    public static func write(_ plan: ConversionPlan, to path: String, overwrite: Bool, channelsLastInput: Bool = false,
                             progress: WriteProgress? = nil) throws -> (nodes: Int, initializers: Int, bytes: Int) {
        if let other = plan.tensors.first(where: { $0.dtype != .float32 }) {
            throw VGGError.unsupportedDType(tensor: other.name, dtype: other.dtype.rawValue, reason: "cannot go into an ONNX graph of float32 operators; keep the weights in float32")
        }
        let (nodes, initializers, output) = try graph(plan, channelsLastInput: channelsLastInput)
        var model = ProtobufMessage()
        model.int(1, irVersion)
        model.string(2, "vggconv")
        model.string(3, VGGConvVersion.current)
        var operatorSet = ProtobufMessage()
        operatorSet.string(1, "")  // ai.onnx
        operatorSet.int(2, Self.opset)
        model.message(8, operatorSet)
        // GraphProto: nodes, name, input, output first; the initializers (with their raw data) last.
        var head = ProtobufMessage()
        for node in nodes { head.message(1, node) }
        head.string(2, "vggconv")
        // A fully convolutional model runs at any image size (as vggconv's engine runs it): its height and
        // width are symbolic too. Otherwise the graph is fixed at the recorded input size.
        let anySize = fullyConvolutional(plan.architecture)
        let input = plan.architecture.inputShape
        head.message(11, channelsLastInput
            ? valueInfo("input", [input[1], input[2], input[0]], spatial: anySize ? ["H", "W"] : nil, channelsLast: true)
            : valueInfo("input", input, spatial: anySize ? ["H", "W"] : nil))
        head.message(12, valueInfo(output.name, output.shape, spatial: anySize && output.shape.count == 3 ? ["H_out", "W_out"] : nil))
        // Each initializer: TensorProto{dims, data_type, name, raw_data}; raw_data's bytes are written
        // afterwards, at the offsets computed here.
        var initializerHeaders: [[UInt8]] = []
        var graphLength = head.bytes.count
        for initializer in initializers {
            var tensor = ProtobufMessage()
            tensor.ints(1, initializer.shape)
            tensor.int(2, initializer.dataType)
            tensor.string(8, initializer.name)
            let rawHeader = ProtobufMessage.header(9, length: initializer.nbytes)
            let tensorLength = tensor.bytes.count + rawHeader.count + initializer.nbytes
            let bytes = ProtobufMessage.header(5, length: tensorLength) + tensor.bytes + rawHeader
            initializerHeaders.append(bytes)
            graphLength += bytes.count + initializer.nbytes
        }
        let prefix = model.bytes + ProtobufMessage.header(7, length: graphLength) + head.bytes
        let file = try OutputFile(path: path, overwrite: overwrite)
        try prefix.withUnsafeBytes { try file.write($0, at: 0) }
        var cursor = prefix.count
        var streamed: [(PlannedTensor, Int)] = []
        for (initializer, header) in zip(initializers, initializerHeaders) {
            try header.withUnsafeBytes { try file.write($0, at: cursor) }
            cursor += header.count
            switch initializer {
            case .planned(let tensor): streamed.append((tensor, cursor))
            case .constant(_, let values):
                try values.withUnsafeBytes { try file.write($0, at: cursor) }
            }
            cursor += initializer.nbytes
        }
        _ = try TensorStreamer.write(streamed.map(\.0), at: streamed.map(\.1), to: file, checksums: false, progress: progress)
        try file.commit()
        return (nodes.count, initializers.count, cursor)
    }

    /// True when no layer fixes the input size: no Flatten/Dense, and every 'same' window has stride 1
    /// (whose pads do not depend on the size).
    /// Layers after a global pooling see a fixed-size vector whatever the map's size.
    static func fullyConvolutional(_ architecture: NativeArchitecture) -> Bool {
        architecture.layersBeforeGlobalPooling.allSatisfy { layer in
            switch layer.type {
            case .flatten, .dense, .adaptiveAvgPool2d: return false
            case .conv2d, .maxPooling2d:
                let window = layer.type == .conv2d ? try? LayerSchema.convolutionWindow(layer.config) : try? LayerSchema.poolingWindow(layer.config)
                guard let window else { return false }
                return window.padding == .valid || (window.strideY == 1 && window.strideX == 1)
            default: return true
            }
        }
    }

    /// ValueInfoProto of a float tensor (C, H, W) or (N) whose batch dimension is the symbolic `N`, and
    /// whose height and width are symbolic too when `spatial` names them.
    private static func valueInfo(_ name: String, _ shape: [Int], spatial: [String]?, channelsLast: Bool = false) -> ProtobufMessage {
        var dims = ProtobufMessage()
        func dimension(_ value: Int?, _ symbol: String?) {
            var dim = ProtobufMessage()
            if let symbol { dim.string(2, symbol) } else { dim.int(1, value ?? 0) }
            dims.message(1, dim)
        }
        dimension(nil, "N")
        let spatialAxes = channelsLast ? [0, 1] : [1, 2]
        for (axis, value) in shape.enumerated() {
            let symbol = shape.count == 3 ? spatialAxes.firstIndex(of: axis).flatMap { spatial?[$0] } : nil
            dimension(value, symbol)
        }
        var tensorType = ProtobufMessage()
        tensorType.int(1, 1)
        tensorType.message(2, dims)
        var type = ProtobufMessage()
        type.message(1, tensorType)
        var info = ProtobufMessage()
        info.string(1, name)
        info.message(2, type)
        return info
    }

    private static func node(_ op: String, _ inputs: [String], _ output: String, _ attributes: [ProtobufMessage] = []) -> ProtobufMessage {
        var node = ProtobufMessage()
        for input in inputs { node.string(1, input) }
        node.string(2, output)
        node.string(3, output)
        node.string(4, op)
        for attribute in attributes { node.message(5, attribute) }
        return node
    }

    /// An AttributeProto: its name, the value in the field its type uses, and the type (AttributeType).
    private static func attribute(_ name: String, type: Int, _ value: (inout ProtobufMessage) -> Void) -> ProtobufMessage {
        var attribute = ProtobufMessage()
        attribute.string(1, name)
        value(&attribute)
        attribute.int(20, type)
        return attribute
    }

    private static func ints(_ name: String, _ values: [Int]) -> ProtobufMessage { attribute(name, type: 7) { $0.ints(8, values) } }
    private static func int(_ name: String, _ value: Int) -> ProtobufMessage { attribute(name, type: 2) { $0.int(3, value) } }
    private static func float(_ name: String, _ value: Float) -> ProtobufMessage { attribute(name, type: 1) { $0.float(2, value) } }

    /// Keras's padding as ONNX pads [top, left, bottom, right]: 'same' puts the odd pixel at the end.
    private static func pads(_ window: LayerSchema.Window, input: [Int]) -> [Int] {
        guard window.padding == .same else { return [0, 0, 0, 0] }
        func total(_ size: Int, _ kernel: Int, _ stride: Int) -> Int {
            max(((size + stride - 1) / stride - 1) * stride + kernel - size, 0)
        }
        let (y, x) = (total(input[1], window.height, window.strideY), total(input[2], window.width, window.strideX))
        return [y / 2, x / 2, y - y / 2, x - x / 2]
    }

    /// The nodes and initializers, in topological (layer) order, and the output's name and shape.
    private static func graph(_ plan: ConversionPlan, channelsLastInput: Bool) throws
        -> ([ProtobufMessage], [Initializer], (name: String, shape: [Int])) {
        let tensors = Dictionary(plan.tensors.map { ($0.name, $0) }) { first, _ in first }
        var nodes: [ProtobufMessage] = [], initializers: [Initializer] = []
        var current = "input", shape = plan.architecture.inputShape
        if channelsLastInput {
            nodes.append(node("Transpose", ["input"], "input_nchw", [ints("perm", [0, 3, 1, 2])]))
            current = "input_nchw"
        }
        func planned(_ layer: NativeLayer, _ role: ParameterRole) -> String? {
            guard let tensor = tensors[role.tensorName(ofLayer: layer.name)] else { return nil }
            initializers.append(.planned(tensor))
            return tensor.name
        }
        func emit(_ op: String, _ inputs: [String], _ output: String, _ attributes: [ProtobufMessage] = []) {
            nodes.append(node(op, inputs, output, attributes))
            current = output
        }
        func activation(_ name: String?, _ layer: NativeLayer) throws {
            guard let kind = Activation(rawValue: name ?? Activation.linear.rawValue) else {
                throw VGGError.architecture(reason: "layer \(layer.name): activation \(SafeText.quote(name ?? "")) is not one of \(Activation.namesForMessages)")
            }
            switch kind {
            case .linear: break
            case .relu: emit("Relu", [current], "\(layer.name)_relu")
            case .sigmoid: emit("Sigmoid", [current], "\(layer.name)_sigmoid")
            case .tanh: emit("Tanh", [current], "\(layer.name)_tanh")
            case .softmax: emit("Softmax", [current], "\(layer.name)_softmax", [int("axis", 1)])
            }
        }
        for layer in plan.architecture.layers {
            let config = layer.config
            switch layer.type {
            case .input, .dropout: break
            case .conv2d:
                let window = try LayerSchema.convolutionWindow(config)
                guard let weight = planned(layer, .kernel) else { throw VGGError.tensorNotFound(name: ParameterRole.kernel.tensorName(ofLayer: layer.name), path: plan.sourcePath) }
                let bias = planned(layer, .bias)
                emit("Conv", [current, weight] + (bias.map { [$0] } ?? []), layer.name, [
                    ints("kernel_shape", [window.height, window.width]), ints("strides", [window.strideY, window.strideX]),
                    ints("pads", pads(window, input: shape)), ints("dilations", [1, 1]), int("group", 1)])
                try activation(config.activation, layer)
            case .maxPooling2d:
                let window = try LayerSchema.poolingWindow(config)
                emit("MaxPool", [current], layer.name, [
                    ints("kernel_shape", [window.height, window.width]), ints("strides", [window.strideY, window.strideX]),
                    ints("pads", pads(window, input: shape))])
            case .adaptiveAvgPool2d:
                if layer.outputShape != shape {
                    let kernel = [shape[1] / layer.outputShape[1], shape[2] / layer.outputShape[2]]
                    emit("AveragePool", [current], layer.name, [ints("kernel_shape", kernel), ints("strides", kernel)])
                }
            case .batchNormalization:
                let width = shape[0]
                let scale = planned(layer, .gamma) ?? {
                    initializers.append(.constant(name: ParameterRole.gamma.tensorName(ofLayer: layer.name), values: [Float](repeating: 1, count: width)))
                    return ParameterRole.gamma.tensorName(ofLayer: layer.name)
                }()
                let shift = planned(layer, .beta) ?? {
                    initializers.append(.constant(name: ParameterRole.beta.tensorName(ofLayer: layer.name), values: [Float](repeating: 0, count: width)))
                    return ParameterRole.beta.tensorName(ofLayer: layer.name)
                }()
                guard let mean = planned(layer, .movingMean), let variance = planned(layer, .movingVariance) else {
                    throw VGGError.tensorNotFound(name: "\(layer.name).running_mean", path: plan.sourcePath)
                }
                emit("BatchNormalization", [current, scale, shift, mean, variance], layer.name,
                     [float("epsilon", Float(config.epsilon ?? LayerSchema.Default.batchNormEpsilon))])
            case .activation, .relu, .softmax:
                try activation(layer.type == .relu ? "relu" : config.activation, layer)
            case .globalAveragePooling2d, .globalMaxPooling2d:
                let op = layer.type == .globalMaxPooling2d ? "GlobalMaxPool" : "GlobalAveragePool"
                emit(op, [current], layer.config.keepDims == true ? layer.name : "\(layer.name)_pooled")
                if layer.config.keepDims != true { emit("Flatten", [current], layer.name, [int("axis", 1)]) }
            case .flatten:
                if shape.count == 3 { emit("Flatten", [current], layer.name, [int("axis", 1)]) }
            case .dense:
                guard let weight = planned(layer, .kernel) else { throw VGGError.tensorNotFound(name: ParameterRole.kernel.tensorName(ofLayer: layer.name), path: plan.sourcePath) }
                let bias = planned(layer, .bias)
                emit("Gemm", [current, weight] + (bias.map { [$0] } ?? []), layer.name, [
                    float("alpha", 1), float("beta", 1), int("transB", 1)])
                try activation(config.activation, layer)
            }
            shape = layer.outputShape
        }
        // The graph's output is the last node's; with no node at all, an Identity keeps input ≠ output.
        if nodes.isEmpty { emit("Identity", [current], "output") }
        return (nodes, initializers, (current, shape))
    }
}
