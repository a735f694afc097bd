import FileIO
import VGGCore

/// Recognises a VGG-family network in an ONNX graph by its pattern, not its names: it walks the chain of
/// nodes from the graph's one data input to its output and maps each node (or pair: MatMul + Add, Mul +
/// Add) onto a layer, in every dialect exporters write (torch.onnx at opsets 7 to 21, tf2onnx from Keras,
/// the model zoo). Weights come from initializers and `Constant` nodes. A node that is not part of a VGG
/// (a branch, an op the family does not use, settings the engine does not run) is refused by name.
struct OnnxArchitecture {
    private(set) var layers: [SourceLayer] = []
    /// The graph input is N,H,W,C, transposed to N,C,H,W by its first node (tf2onnx from Keras).
    private(set) var channelsLastInput = false
    /// The first dense layer after Flatten takes its rows in H,W,C order (a Transpose before the flatten).
    private(set) var flattenFromChannelsLast = false
    /// The input shape (H, W, C or C, H, W as the graph input has it), when its dims are fixed.
    private(set) var inputDims: [Int?] = []
    private(set) var notes: [String] = []

    private let graph: OnnxGraphProto
    private let tensors: OnnxTensors
    private let path: String
    private let opset: Int
    private var constants: [String: OnnxTensorProto] = [:]
    private var producers: [String: Int] = [:]
    private var consumers: [String: [Int]] = [:]
    private var visited = Set<Int>()
    /// The activation the walk has reached.
    private var current = ""
    /// True while `current` is the output of the last layer emitted, so an activation, a bias Add or
    /// a flatten after a global pool folds into it.
    private var fusable = false
    /// Channels (or units) of `current`, when known.
    private var channels: Int?
    /// The last layer is a BatchNormalization made from a per-channel Mul, whose Add gives its beta.
    private var affineFromMul = false
    private var transposedForFlatten = false

    /// Ops that only compute shapes or pass constants along: off the main chain, harmless.
    private static let shapeOps: Set<String> = ["Constant", "Shape", "Gather", "Unsqueeze", "Concat", "Slice", "Cast", "Squeeze", "Identity"]

    init(graph: OnnxGraphProto, tensors: OnnxTensors, path: String, opset: Int) throws {
        self.graph = graph
        self.tensors = tensors
        self.path = path
        self.opset = opset
        for initializer in graph.initializers { constants[initializer.name] = initializer }
        for node in graph.nodes {
            for output in node.outputs where !output.isEmpty { producers[output] = node.index }
            if node.opType == "Constant", let output = node.outputs.first, case .tensor(let value)? = node.attributes["value"] {
                constants[output] = value
            }
            for input in Set(node.inputs) where !input.isEmpty { consumers[input, default: []].append(node.index) }
        }
        // torch.onnx shares equal initializers (torchvision's zero biases) and names each use through an
        // Identity node: a constant under the Identity's output name. Chains resolve in graph order.
        for node in graph.nodes where node.opType == "Identity" {
            if let input = node.inputs.first, var value = constants[input], let output = node.outputs.first, !output.isEmpty {
                value.name = output
                constants[output] = value
            }
        }
        let dataInputs = graph.inputs.filter { constants[$0.name] == nil }
        guard let input = dataInputs.first else { throw OnnxFormatError.graph(path: path, problem: .noInput) }
        guard dataInputs.count == 1 else { throw OnnxFormatError.graph(path: path, problem: .severalInputs(dataInputs.map(\.name))) }
        current = input.name
        inputDims = Array(input.dims.dropFirst())
        channels = inputDims.first ?? nil
        try walk()
    }

    private func unsupported(_ node: OnnxNode, _ detail: String) -> OnnxFormatError {
        .unsupportedNode(path: path, node: node.label, opType: node.opType, opset: opset, detail: detail)
    }

    private mutating func walk() throws {
        while true {
            let users = (consumers[current] ?? []).filter { graph.nodes[$0].opType != "Shape" }
            guard !users.isEmpty else { break }
            guard users.count == 1 else {
                throw OnnxFormatError.graph(path: path, problem: .branch(value: current, consumers: users.map { graph.nodes[$0].label }))
            }
            guard visited.insert(users[0]).inserted else {
                throw OnnxFormatError.graph(path: path, problem: .cycle(node: graph.nodes[users[0]].label))
            }
            var node = graph.nodes[users[0]]
            guard node.domain.isEmpty || node.domain == "ai.onnx" else { throw unsupported(node, "is in domain '\(SafeText.quote(node.domain))', not ONNX's own") }
            // Add and Mul commute: exporters put the constant first or second.
            if ["Add", "Mul"].contains(node.opType), node.inputs.count == 2, node.inputs[1] == current { node.inputs.reverse() }
            guard node.inputs.first == current, let output = node.outputs.first, !output.isEmpty else {
                throw unsupported(node, "takes the activation as an operand other than its first; not part of a VGG-style network")
            }
            if node.outputs.count > 1, node.outputs.dropFirst().contains(where: { !$0.isEmpty && consumers[$0] != nil }) {
                throw unsupported(node, "has a second output that other nodes use (training outputs?); export the model in inference mode")
            }
            try step(node)
            current = output
        }
        if graph.outputs.contains(where: { $0.name == current }) == false {
            throw OnnxFormatError.graph(path: path, problem: .outputNotReached(last: current))
        }
        let stray = graph.nodes.filter { !visited.contains($0.index) && !Self.shapeOps.contains($0.opType) && $0.opType != "Reshape" }
        guard stray.isEmpty else { throw OnnxFormatError.graph(path: path, problem: .unreached(nodes: stray.map(\.label))) }
        if layers.isEmpty { throw OnnxFormatError.notOnnx(path: path, reason: "the graph computes nothing vggconv recognises from its input") }
    }

    // MARK: nodes

    private mutating func step(_ node: OnnxNode) throws {
        switch node.opType {
        case "Conv": try conv(node)
        case "Gemm": try gemm(node)
        case "MatMul": try matMul(node)
        case "Add": try addend(node)
        case "Mul": try factor(node)
        case "BatchNormalization": try batchNormalization(node)
        case "Relu": activation(node, "relu", type: .relu)
        case "Sigmoid": activation(node, "sigmoid", type: .activation)
        case "Softmax":
            let axis = node.int("axis") ?? (opset >= 13 ? -1 : 1)
            guard axis == 1 || axis == -1 else { throw unsupported(node, "takes softmax over axis \(axis); a classifier's is over its classes (axis 1)") }
            activation(node, "softmax", type: .softmax)
        case "MaxPool": try maxPool(node)
        case "AveragePool":
            let kernel = node.ints("kernel_shape") ?? [], strides = node.ints("strides") ?? [1, 1], pads = node.ints("pads") ?? [0, 0, 0, 0]
            guard kernel == [1, 1], strides == [1, 1], pads.allSatisfy({ $0 == 0 }) else {
                throw unsupported(node, "averages \(kernel) windows; a VGG averages only globally (AdaptiveAvgPool2d at its identity size exports as a 1x1 pool)")
            }
            notes.append("node '\(SafeText.quote(node.label))' (a 1x1 AveragePool, torchvision's AdaptiveAvgPool2d at its identity size) read as the identity")
        case "GlobalAveragePool", "GlobalMaxPool":
            append(node.opType == "GlobalAveragePool" ? .globalAveragePooling2d : .globalMaxPooling2d, node, LayerConfig(keepDims: true))
            fusable = true
        case "Squeeze":
            guard let last = layers.last, last.type.isGlobalPooling, fusable else { throw unsupported(node, "squeezes an activation other than a global pool's") }
            layers[layers.count - 1].config.keepDims = false
        case "Flatten":
            let axis = node.int("axis") ?? 1
            guard axis == 1 else { throw unsupported(node, "flattens from axis \(axis); a VGG flattens each sample (axis 1)") }
            flatten(node)
        case "Reshape":
            guard isFlatten(shape: node.inputs.count > 1 ? node.inputs[1] : "", node: node) else {
                throw unsupported(node, "reshapes to something other than (batch, -1), the flatten before a classifier")
            }
            flatten(node)
        case "Transpose": try transpose(node)
        case "Dropout":
            var rate = node.float("ratio").map(Double.init) ?? 0.5
            if node.inputs.count > 1, let ratio = constants[node.inputs[1]], let value = try tensors.floats(ratio).first { rate = Double(value) }
            append(.dropout, node, LayerConfig(rate: rate))
        case "Identity": break
        case "Cast":
            guard node.int("to") == 1 else { throw unsupported(node, "casts the activation to ONNX type \(node.int("to") ?? 0), not float") }
        default:
            throw unsupported(node, "is not part of a VGG-style network (vggconv reads Conv, Relu, MaxPool, BatchNormalization, Flatten/Reshape, Gemm or MatMul + Add, global pooling, Dropout, Softmax, Sigmoid)")
        }
    }

    private mutating func append(_ type: LayerType, _ node: OnnxNode, _ config: LayerConfig, _ parameters: [SourceParameter] = []) {
        layers.append(SourceLayer(name: node.label, type: type, config: config, parameters: parameters))
        fusable = false
        affineFromMul = false
    }

    private func constant(_ node: OnnxNode, _ position: Int, _ what: String) throws -> OnnxTensorProto {
        guard node.inputs.count > position, !node.inputs[position].isEmpty else { throw unsupported(node, "has no \(what)") }
        guard let value = constants[node.inputs[position]] else {
            throw unsupported(node, "takes its \(what) from '\(SafeText.quote(node.inputs[position]))', which is computed, not a constant")
        }
        return value
    }

    private func parameter(_ role: ParameterRole, _ proto: OnnxTensorProto, layout: TensorLayout, shape: [Int]? = nil) throws -> SourceParameter {
        var tensor = try tensors.tensor(proto, layout: layout)
        if let shape { tensor.shape = shape }
        guard tensor.dtype.isFloatingPoint else {
            throw OnnxFormatError.badTensor(path: path, tensor: proto.name, problem: .dataType(proto.dataType))
        }
        return SourceParameter(role: role, tensor: tensor)
    }

    /// A per-channel vector stored as [C], [1, C] or [1, C, 1, 1]: its length, or nil for another shape.
    private func vectorLength(_ proto: OnnxTensorProto) -> Int? {
        let dims = proto.dims
        if dims.count == 1 { return dims[0] }
        guard dims.count >= 2, dims[0] == 1, dims.dropFirst(2).allSatisfy({ $0 == 1 }) else { return nil }
        return dims[1]
    }

    private mutating func conv(_ node: OnnxNode) throws {
        let weight = try constant(node, 1, "weight")
        guard weight.dims.count == 4 else { throw unsupported(node, "has a \(weight.dims.count)-D weight; a 2-D convolution's is 4-D") }
        let (out, kh, kw) = (weight.dims[0], weight.dims[2], weight.dims[3])
        guard (node.int("group") ?? 1) == 1 else { throw unsupported(node, "is a grouped convolution (group \(node.int("group") ?? 1)); a VGG's are not") }
        guard (node.ints("dilations") ?? [1, 1]).allSatisfy({ $0 == 1 }) else { throw unsupported(node, "is dilated; vggconv runs undilated convolutions") }
        if let kernel = node.ints("kernel_shape"), kernel != [kh, kw] {
            throw unsupported(node, "declares kernel_shape \(kernel) but its weight is \(kh)x\(kw)")
        }
        let strides = node.ints("strides") ?? [1, 1]
        let padding = try self.padding(node, kernel: [kh, kw], strides: strides)
        var parameters = [try parameter(.kernel, weight, layout: .oihw)]
        if node.inputs.count > 2, !node.inputs[2].isEmpty {
            let bias = try constant(node, 2, "bias")
            parameters.append(try parameter(.bias, bias, layout: .vector, shape: [bias.dims.reduce(1, *)]))
        }
        append(.conv2d, node, LayerConfig(filters: out, kernelSize: [kh, kw], strides: strides, padding: padding, activation: "linear",
                                       useBias: parameters.count == 2), parameters)
        fusable = true
        channels = out
    }

    /// `pads`/`auto_pad` as Keras's 'valid' or 'same' (symmetric padding of (k-1)/2 at stride 1).
    private func padding(_ node: OnnxNode, kernel: [Int], strides: [Int]) throws -> Padding {
        let autoPad = node.string("auto_pad") ?? "NOTSET"
        let pads = node.ints("pads") ?? [0, 0, 0, 0]
        let oddStrideOne = kernel.allSatisfy { $0 % 2 == 1 } && strides.allSatisfy { $0 == 1 }
        switch autoPad {
        case "VALID": return .valid
        case "SAME_UPPER": return .same
        case "SAME_LOWER" where oddStrideOne: return .same
        case "NOTSET", "":
            if pads.allSatisfy({ $0 == 0 }) { return .valid }
            if oddStrideOne, pads.count == 4, pads == [kernel[0] / 2, kernel[1] / 2, kernel[0] / 2, kernel[1] / 2] { return .same }
        default: break
        }
        throw unsupported(node, "pads \(autoPad == "NOTSET" ? "\(pads)" : autoPad) is neither 'valid' (no padding) nor 'same' (symmetric, at stride 1)")
    }

    private mutating func maxPool(_ node: OnnxNode) throws {
        guard let kernel = node.ints("kernel_shape"), kernel.count == 2 else { throw unsupported(node, "has no 2-D kernel_shape") }
        let strides = node.ints("strides") ?? [1, 1]
        guard (node.int("ceil_mode") ?? 0) == 0 else { throw unsupported(node, "rounds its output size up (ceil_mode=1); vggconv runs floor-mode pools") }
        guard (node.ints("dilations") ?? [1, 1]).allSatisfy({ $0 == 1 }) else { throw unsupported(node, "is dilated") }
        guard (node.int("storage_order") ?? 0) == 0 else { throw unsupported(node, "asks for column-major indices") }
        let autoPad = node.string("auto_pad") ?? "NOTSET"
        guard ["NOTSET", "VALID", ""].contains(autoPad), (node.ints("pads") ?? [0, 0, 0, 0]).allSatisfy({ $0 == 0 }) else {
            throw unsupported(node, "pads its windows; a VGG's pools are unpadded")
        }
        append(.maxPooling2d, node, LayerConfig(strides: strides, padding: .valid, poolSize: kernel))
    }

    private mutating func batchNormalization(_ node: OnnxNode) throws {
        guard (node.int("spatial") ?? 1) == 1 else { throw unsupported(node, "normalises per position (spatial=0); vggconv's is per channel") }
        guard (node.int("training_mode") ?? 0) == 0 else { throw unsupported(node, "is in training mode; export the model with model.eval()") }
        let roles: [ParameterRole] = [.gamma, .beta, .movingMean, .movingVariance]
        let parameters = try roles.enumerated().map { index, role in
            let value = try constant(node, index + 1, role.kerasName)
            return try parameter(role, value, layout: .vector, shape: [value.dims.reduce(1, *)])
        }
        append(.batchNormalization, node, LayerConfig(epsilon: Double(node.float("epsilon") ?? 1e-5), center: true, scale: true), parameters)
    }

    private mutating func activation(_ node: OnnxNode, _ name: String, type: LayerType) {
        if fusable, let last = layers.last, [.conv2d, .dense].contains(last.type), last.config.activation == "linear" {
            layers[layers.count - 1].config.activation = name
            fusable = false
            return
        }
        append(type, node, type == .softmax ? LayerConfig() : LayerConfig(activation: name))
    }

    private mutating func flatten(_ node: OnnxNode) {
        if fusable, let last = layers.last, last.type.isGlobalPooling {
            layers[layers.count - 1].config.keepDims = false
            fusable = false
            return
        }
        if transposedForFlatten { flattenFromChannelsLast = true }
        append(.flatten, node, LayerConfig())
    }

    private mutating func transpose(_ node: OnnxNode) throws {
        let perm = node.ints("perm") ?? []
        if perm == [0, 3, 1, 2], layers.isEmpty, !channelsLastInput {
            channelsLastInput = true
            inputDims = inputDims.count == 3 ? [inputDims[2], inputDims[0], inputDims[1]] : inputDims
            channels = inputDims.first ?? nil
            return
        }
        let next = (consumers[node.outputs[0]] ?? []).map { graph.nodes[$0].opType }
        if perm == [0, 2, 3, 1], next.contains(where: { $0 == "Reshape" || $0 == "Flatten" }) {
            transposedForFlatten = true
            return
        }
        if perm == [0, 2, 3, 1], next.isEmpty, channelsLastInput {
            notes.append("the graph returns its feature maps channels-last (N,H,W,C), as the Keras model it came from")
            return
        }
        throw unsupported(node, "transposes with perm \(perm); vggconv reads the transposes that tf2onnx puts at the input (0,3,1,2) and before the flatten (0,2,3,1)")
    }

    private mutating func gemm(_ node: OnnxNode) throws {
        guard (node.int("transA") ?? 0) == 0 else { throw unsupported(node, "transposes its input (transA=1)") }
        let transB = (node.int("transB") ?? 0) != 0
        let alpha = node.float("alpha") ?? 1, beta = node.float("beta") ?? 1
        let weight = try constant(node, 1, "weight")
        guard weight.dims.count == 2 else { throw unsupported(node, "has a \(weight.dims.count)-D weight") }
        let units = transB ? weight.dims[0] : weight.dims[1]
        var parameters = [try scaled(try parameter(.kernel, weight, layout: transB ? .outIn : .inOut), by: alpha)]
        if node.inputs.count > 2, !node.inputs[2].isEmpty {
            let bias = try constant(node, 2, "bias")
            guard vectorLength(bias) == units else { throw unsupported(node, "adds a bias of shape \(bias.dims), not one value per unit (\(units))") }
            parameters.append(try scaled(try parameter(.bias, bias, layout: .vector, shape: [units]), by: beta))
        }
        if alpha != 1 || beta != 1 { notes.append("node '\(SafeText.quote(node.label))': Gemm's alpha \(alpha) and beta \(beta) folded into its weight and bias") }
        append(.dense, node, LayerConfig(activation: "linear", useBias: parameters.count == 2, units: units), parameters)
        fusable = true
        channels = units
    }

    private mutating func matMul(_ node: OnnxNode) throws {
        let weight = try constant(node, 1, "weight")
        guard weight.dims.count == 2 else { throw unsupported(node, "multiplies by a \(weight.dims.count)-D constant; a dense layer's kernel is 2-D") }
        append(.dense, node, LayerConfig(activation: "linear", useBias: false, units: weight.dims[1]), [try parameter(.kernel, weight, layout: .inOut)])
        fusable = true
        channels = weight.dims[1]
    }

    /// A bias: onto the convolution or dense layer just before (no bias yet), or a folded BatchNormalization's beta.
    private mutating func addend(_ node: OnnxNode) throws {
        let bias = try constant(node, 1, "bias (a constant addend)")
        guard let length = vectorLength(bias), length == channels else {
            throw unsupported(node, "adds a constant of shape \(bias.dims), not one value per channel (\(channels ?? 0))")
        }
        guard let last = layers.last else { throw unsupported(node, "adds a constant to the input") }
        if fusable, [.conv2d, .dense].contains(last.type), last.config.useBias == false {
            layers[layers.count - 1].parameters.append(try parameter(.bias, bias, layout: .vector, shape: [length]))
            layers[layers.count - 1].config.useBias = true
            return
        }
        if affineFromMul, let beta = last.parameters.firstIndex(where: { $0.role == .beta }) {
            layers[layers.count - 1].parameters[beta] = try parameter(.beta, bias, layout: .vector, shape: [length])
            affineFromMul = false
            return
        }
        throw unsupported(node, "adds a constant that is neither a bias nor a folded BatchNormalization's shift")
    }

    /// A per-channel scale (tf2onnx's folded BatchNormalization): a BatchNormalization with mean 0,
    /// variance 1 and epsilon 0, whose shift the Add that follows gives.
    private mutating func factor(_ node: OnnxNode) throws {
        let scale = try constant(node, 1, "scale (a constant factor)")
        guard let length = vectorLength(scale), length == channels, let channels else {
            throw unsupported(node, "multiplies by a constant of shape \(scale.dims), not one value per channel (\(self.channels ?? 0))")
        }
        func filled(_ value: Float, _ role: ParameterRole) -> SourceParameter {
            let bytes = [Float](repeating: value, count: channels).withUnsafeBytes { Array($0) }
            return SourceParameter(role: role, tensor: SourceTensor(sourceName: "\(node.label) (\(role.kerasName): \(value))", dtype: .float32,
                                                                     shape: [channels], layout: .vector, data: TensorData(bytes: bytes), fileOffset: nil))
        }
        let gamma = try parameter(.gamma, scale, layout: .vector, shape: [length])
        append(.batchNormalization, node, LayerConfig(epsilon: 0, center: true, scale: true),
            [gamma, filled(0, .beta), filled(0, .movingMean), filled(1, .movingVariance)])
        affineFromMul = true
        notes.append("node '\(SafeText.quote(node.label))': a per-channel Mul (+ Add) read as the BatchNormalization tf2onnx folded into it")
    }

    /// A copy of `parameter` multiplied by `factor` (Gemm's alpha and beta); itself when `factor` is 1.
    private func scaled(_ parameter: SourceParameter, by factor: Float) throws -> SourceParameter {
        guard factor != 1 else { return parameter }
        guard parameter.tensor.dtype == .float32 else {
            throw OnnxFormatError.badTensor(path: path, tensor: parameter.tensor.sourceName, problem: .dataType(1))
        }
        var copy = parameter
        let values = parameter.tensor.data.withUnsafeBytes { $0.bindMemory(to: UInt32.self).map { Float(bitPattern: UInt32(littleEndian: $0)) * factor } }
        copy.tensor.data = TensorData(bytes: values.withUnsafeBytes { Array($0) })
        copy.tensor.fileOffset = nil
        return copy
    }

    // MARK: the reshape chain

    /// One element of a shape computed in the graph: the batch size, a number, or unknown.
    private enum ShapeElement: Equatable { case batch, value(Int64), unknown }

    /// True when `shape` evaluates to (batch, -1) or (batch, K): a constant, or the Shape → Gather →
    /// Unsqueeze → Concat chain `x.view(x.size(0), -1)` exports to.
    private func isFlatten(shape name: String, node: OnnxNode) -> Bool {
        guard let elements = evaluate(name, depth: 0), elements.count == 2 else { return false }
        let batchSize = graph.inputs.first { constants[$0.name] == nil }?.dims.first ?? nil
        let first = elements[0], second = elements[1]
        let batchLike: Bool
        switch first {
        case .batch, .value(0): batchLike = true
        case .value(-1): batchLike = second != .value(-1) && second != .unknown
        case .value(let n): batchLike = batchSize.map { Int64($0) == n } ?? false
        case .unknown: batchLike = false
        }
        switch second {
        case .value(let n): return batchLike && (n == -1 || n > 0)
        default: return false
        }
    }

    private func evaluate(_ name: String, depth: Int) -> [ShapeElement]? {
        guard depth < 32 else { return nil }
        if let value = constants[name] { return (try? tensors.integers(value)).map { $0.map(ShapeElement.value) } }
        guard let index = producers[name] else { return nil }
        let node = graph.nodes[index]
        func input(_ i: Int) -> [ShapeElement]? { node.inputs.count > i ? evaluate(node.inputs[i], depth: depth + 1) : nil }
        switch node.opType {
        case "Shape": return [.batch, .unknown, .unknown, .unknown]
        case "Unsqueeze", "Cast", "Identity", "Squeeze": return input(0)
        case "Gather":
            guard let data = input(0), let indices = input(1), indices.count == 1, case .value(let i) = indices[0],
                  data.indices.contains(Int(i)) else { return nil }
            return [data[Int(i)]]
        case "Concat":
            var all: [ShapeElement] = []
            for i in node.inputs.indices { guard let part = input(i) else { return nil }; all += part }
            return all
        case "Slice":
            guard let data = input(0) else { return nil }
            let starts = node.ints("starts") ?? input(1).flatMap { $0.first.flatMap { if case .value(let v) = $0 { return [Int(v)] }; return nil } }
            let ends = node.ints("ends") ?? input(2).flatMap { $0.first.flatMap { if case .value(let v) = $0 { return [Int(clamping: v)] }; return nil } }
            guard let start = starts?.first, let end = ends?.first, start >= 0 else { return nil }
            return Array(data[min(start, data.count)..<min(max(end, start), data.count)])
        default: return nil
        }
    }
}
