import FileIO
import VGGCore

/// A conversion plan as the Keras model that reproduces it: Keras layer names and classes, each
/// layer's output shape in Keras's (None, H, W, C) order, and each variable in Keras's layout (HWIO
/// kernels, (in, out) dense kernels with the first dense after `Flatten` taking H,W,C-ordered rows), as
/// planned tensors that stream from the source with at most one transpose. Always channels-last.
/// Facts: docs/exports.md, "Keras files".
public struct KerasExport: Sendable {
    /// One Keras layer.
    public struct Layer: Sendable {
        public var name: String
        public var type: LayerType
        public var config: LayerConfig
        /// (H, W, C) or (N), without the batch axis.
        public var outputShape: [Int]
        public var variables: [Variable]
        /// The nested models around the layer, outermost first (empty at the top level).
        public var scopes: [ModelScope] = []
        /// False for a layer the source froze.
        public var trainable = true
        /// The Keras class (`Conv2D`, …): vggconv names its layer types after them.
        public var className: String { type.rawValue }
    }

    /// A layer or a nested model (with its own InputLayer name and input shape) of one model level.
    public indirect enum Node: Sendable {
        case layer(Layer)
        case model(scope: ModelScope, inputName: String, inputShape: [Int], children: [Node])

        /// The layer's or the nested model's name.
        public var name: String {
            switch self {
            case .layer(let layer): return layer.name
            case .model(let scope, _, _, _): return scope.name
            }
        }

        /// Every layer inside, depth first.
        public var leaves: [Layer] {
            switch self {
            case .layer(let layer): return [layer]
            case .model(_, _, _, let children): return children.flatMap(\.leaves)
            }
        }

        /// The variables in the order tf-keras and Keras 3's legacy `.h5` code saves and loads them
        /// (`trainable_weights + non_trainable_weights`), with the name of the layer owning each.
        var legacyOrderedVariables: [(layer: String, variable: Variable)] {
            let all = leaves.flatMap { layer in layer.variables.map { (layer: layer.name, variable: $0, trains: layer.trainable && $0.role.isTrainable) } }
            return (all.filter(\.trains) + all.filter { !$0.trains }).map { ($0.layer, $0.variable) }
        }
    }

    /// One Keras variable: its role and its data, planned in Keras's layout.
    public struct Variable: Sendable {
        public var role: ParameterRole
        public var tensor: PlannedTensor
    }

    public var modelName: String
    /// A `Functional` model (its first layer is the `InputLayer`) rather than a `Sequential` one.
    public var isFunctional: Bool
    /// The name of the input layer: the source's for functional models, Keras's default otherwise.
    public var inputName: String
    /// (H, W, C).
    public var inputShape: [Int]
    /// True for a fully convolutional model whose source records no input size: Keras gets an input of
    /// any height and width (`(None, None, None, C)`), as `keras.applications` builds one without a top.
    public var anySpatialSize: Bool
    /// The layers after the input, nested models opened (each layer's `scopes` say where it sits).
    public var layers: [Layer]
    /// The InputLayer names of nested models, by their scope path.
    public var nestedInputNames: [[ModelScope]: String] = [:]
    /// Each model level's input (H, W, C) or (N), by scope path (the first layer's input).
    var nestedInputShapes: [[ModelScope]: [Int]] = [:]

    /// The top-level nodes: layers, and nested models holding theirs.
    public var nodes: [Node] { Self.nodes(layers[...], depth: 0, export: self) }

    /// Layers and nested models of one level, from the flat list.
    private static func nodes(_ layers: ArraySlice<Layer>, depth: Int, export: KerasExport) -> [Node] {
        var result: [Node] = []
        var index = layers.startIndex
        while index < layers.endIndex {
            let layer = layers[index]
            guard layer.scopes.count > depth else {
                result.append(.layer(layer))
                index += 1
                continue
            }
            let path = Array(layer.scopes.prefix(depth + 1))
            let end = layers[index...].firstIndex { !$0.scopes.starts(with: path) } ?? layers.endIndex
            let name = export.nestedInputNames[path] ?? "\(path.last!.name)_input"
            result.append(.model(scope: path.last!, inputName: name, inputShape: export.nestedInputShapes[path] ?? [],
                                 children: nodes(layers[index..<end], depth: depth + 1, export: export)))
            index = end
        }
        return result
    }
    /// What the export changed or left out, for the user.
    public var notes: [String]

    public var variables: [Variable] { layers.flatMap(\.variables) }

    /// Maps `plan` onto Keras layers. Layer names are the source's for Keras sources (so the file loads
    /// by name into the model it came from) and the canonical Keras names (`block1_conv1`, …, `fc1`,
    /// `predictions`) otherwise. `keras3` picks Keras 3's default input name (`input_layer`).
    /// - Throws: `VGGError.architecture` for layers Keras has no equivalent for at this input size.
    public init(_ plan: ConversionPlan, modelName: String?, keras3: Bool) throws {
        let fromKeras = SourceFramework(sourceFormat: plan.sourceFormat) == .keras
        let names = Self.layerNames(plan.architecture.layers, useSourceNames: fromKeras)
        let canonical = plan.architecture.inputShape
        func kerasShape(_ shape: [Int]) -> [Int] { ChannelOrder.channelsLast(shape) }
        let tensors = Dictionary(plan.tensors.map { ($0.name, $0) }) { first, _ in first }
        var notes: [String] = []
        var layers: [Layer] = []
        var inputName = keras3 ? "input_layer" : "input_1"
        var isFunctional = false
        var previousShape = canonical
        var pendingFlatten: Int?  // H·W of the map the last Flatten flattened, until a Dense consumes it
        // Nested models are reproduced when the layers keep their source names (unique, valid Keras names).
        let keepsNesting = fromKeras && names == plan.architecture.layers.map(\.sourceName)
            && plan.architecture.layers.allSatisfy { ($0.scopes ?? []).allSatisfy { Self.validName($0.name) } }
        var nestedInputNames: [[ModelScope]: String] = [:]
        var inputShapes: [[ModelScope]: [Int]] = [:]
        for (index, layer) in plan.architecture.layers.enumerated() {
            defer { previousShape = layer.outputShape }
            switch layer.type {
            case .input:
                // A nested model's own InputLayer: it becomes that model's input.
                if let scopes = layer.scopes, keepsNesting || index > 0 {
                    if keepsNesting { nestedInputNames[scopes] = names[index] }
                    continue
                }
                guard index == 0 else { throw VGGError.architecture(reason: "layer \(SafeText.quote(layer.name)) is an InputLayer after the first layer") }
                isFunctional = fromKeras
                inputName = names[index]
                continue
            case .adaptiveAvgPool2d:
                guard layer.outputShape == previousShape else {
                    throw VGGError.architecture(reason: "layer \(SafeText.quote(layer.sourceName)) (AdaptiveAvgPool2d) averages a \(previousShape[1])x\(previousShape[2]) map to \(layer.outputShape[1])x\(layer.outputShape[2]) at this input size; Keras has no such layer. Export at the input size where it is an identity (224x224 for torchvision's VGG)")
                }
                notes.append("\(layer.sourceName) (AdaptiveAvgPool2d) is an identity at the \(canonical[1])x\(canonical[2]) input and is left out of the Keras model")
                continue
            case .flatten:
                if previousShape.count == 3 { pendingFlatten = previousShape[1] * previousShape[2] }
            default:
                break
            }
            var variables: [Variable] = []
            for (role, _) in LayerSchema.roles(layer.type, layer.config) {
                guard let planned = tensors[role.tensorName(ofLayer: layer.name)] else { continue }
                let spatial = layer.type == .dense ? pendingFlatten ?? 1 : 1
                variables.append(Variable(role: role, tensor: try Self.kerasTensor(planned, role: role, layerType: layer.type,
                                                                                  layerName: names[index], flattenedSpatial: spatial)))
            }
            if layer.type == .dense { pendingFlatten = nil }
            var exported = Layer(name: names[index], type: layer.type, config: layer.config,
                                 outputShape: kerasShape(layer.outputShape), variables: variables)
            exported.scopes = keepsNesting ? layer.scopes ?? [] : []
            exported.trainable = layer.isTrainable
            for depth in 0...exported.scopes.count {
                let path = Array(exported.scopes.prefix(depth))
                if inputShapes[path] == nil { inputShapes[path] = kerasShape(previousShape) }
            }
            layers.append(exported)
        }
        if !keepsNesting, let scope = plan.architecture.layers.lazy.compactMap({ $0.scopes?.first }).first {
            notes.append("the layers of nested model \(scope.name) (\(scope.className)) are written at the top level: its layer names clash with others or are not valid Keras names")
        }
        if plan.tensors.contains(where: { $0.dtype == .bfloat16 }) {
            notes.append("bfloat16 tensors are written as float32: HDF5 and Keras's loaders have no bfloat16 type")
        }
        self.modelName = modelName.flatMap { Self.validName($0) ? $0 : nil } ?? (fromKeras ? "model" : "vgg")
        self.isFunctional = isFunctional
        self.inputName = inputName
        self.inputShape = kerasShape(canonical)
        self.anySpatialSize = plan.inputShapeAssumed
            && !plan.architecture.layersBeforeGlobalPooling.contains { $0.type == .flatten || $0.type == .dense }
        self.layers = layers
        self.notes = notes
        self.nestedInputNames = nestedInputNames
        self.nestedInputShapes = inputShapes
    }

    /// The source's layer names when every one is usable as a Keras and HDF5 name and they are unique;
    /// otherwise the canonical names.
    static func layerNames(_ layers: [NativeLayer], useSourceNames: Bool) -> [String] {
        let source = layers.map(\.sourceName)
        if useSourceNames, source.allSatisfy(validName), Set(source).count == source.count { return source }
        return layers.map(\.name)
    }

    /// Non-empty printable text without `/` (a group separator in HDF5), at most 255 bytes.
    static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name != "." && name != ".."
            && name.unicodeScalars.allSatisfy { $0 != "/" && $0.properties.generalCategory != .control }
    }

    /// The planned tensor in Keras's layout, streamed from the source when the source already has that
    /// layout (a Keras file) or is one transpose away (canonical: PyTorch, `.vggw`), else via memory.
    static func kerasTensor(_ planned: PlannedTensor, role: ParameterRole, layerType: LayerType, layerName: String,
                            flattenedSpatial: Int) throws -> PlannedTensor {
        var tensor = planned
        tensor.name = "\(layerName)/\(role.kerasName)"
        if tensor.dtype == .bfloat16 { tensor.dtype = .float32 }
        guard [.float16, .float32, .float64].contains(tensor.dtype) else {
            throw VGGError.unsupportedDType(tensor: planned.sourceName, dtype: planned.dtype.rawValue, reason: "Keras variables are floating point")
        }
        let shape = planned.shape
        let target: InterleavedTranspose
        switch (layerType, role) {
        case (.conv2d, .kernel):  // (O, I, KH, KW) → (KH, KW, I, O)
            tensor.shape = [shape[2], shape[3], shape[1], shape[0]]
            tensor.layout = .hwio
            guard case .interleavedTranspose(let t) = LayoutConversion.hwioToOIHW(kernelHeight: shape[2], kernelWidth: shape[3],
                                                                                    inputs: shape[1], outputs: shape[0]) else { return tensor }
            target = t
        case (.dense, .kernel):  // (out, in) → (in, out), fc1's rows C,H,W → H,W,C
            tensor.shape = [shape[1], shape[0]]
            tensor.layout = .inOut
            guard case .interleavedTranspose(let t) = LayoutConversion.inOutToOutIn(inputs: shape[1], outputs: shape[0],
                                                                                      flattenedSpatial: flattenedSpatial) else { return tensor }
            target = t
        default:
            return tensor  // vectors: the same bytes in every framework
        }
        switch planned.conversion {
        case .interleavedTranspose(let t) where t.groups == target.groups && t.channels == target.channels && t.columns == target.columns:
            tensor.conversion = .identity  // the source is a Keras file laid out as Keras wants
        case .identity:
            tensor.conversion = .deinterleavedTranspose(target)
        default:
            tensor.data = try TensorStreamer.materialize(planned)
            tensor.conversion = .deinterleavedTranspose(target)
        }
        tensor.sourceShape = tensor.conversion == .identity ? planned.sourceShape : shape
        return tensor
    }
}
