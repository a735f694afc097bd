import FileIO
import Foundation

/// What `vggconv summary` reports: one row per layer, as Keras's `model.summary()` lists them, plus
/// totals, multiply-accumulates and activation memory. Parameter counts come from the architecture
/// (layer configs and input shapes), so an architecture JSON without weights is summarised too.
public struct ModelSummary: Codable, Sendable {
    public struct Row: Codable, Sendable {
        /// The name to print: Keras's layer name, or the canonical name for PyTorch files.
        public var name: String
        public var type: String
        /// Keras-style output shape with `nil` for the batch axis, e.g. `[nil, 224, 224, 3]`.
        public var outputShape: [Int?]
        public var params: Int
        public var trainableParams: Int
        /// Multiply-accumulate operations for one sample, exact (a Decimal holds integers to 2^128; the
        /// layer limits keep a model's total under 2^71).
        public var macs: Decimal
        /// Bytes of this layer's output for one sample (float32).
        public var activationBytes: Int
        /// The PyTorch module path (PyTorch files) or the name in the source file.
        public var sourceName: String
        public var canonicalName: String
        /// The nested models around the layer, outermost first (Keras's `vgg16 (Functional)`).
        public var scopes: [ModelScope] = []
    }

    /// Optimizer variables a Keras file stores (Adam's moments, its iteration counter, …).
    public struct OptimizerState: Codable, Sendable {
        public var params: Int
        public var bytes: Int
        public init(params: Int, bytes: Int) {
            self.params = params
            self.bytes = bytes
        }
    }

    /// The rows Keras prints without `expand_nested`: each top-level nested model as one row (its
    /// name and class, its last layer's output, the sum of its parameters).
    public var topLevelRows: [Row] {
        var result: [Row] = []
        for row in rows {
            guard let scope = row.scopes.first else { result.append(row); continue }
            if let last = result.last, last.scopes == [scope], last.name == scope.name {
                result[result.count - 1].outputShape = row.outputShape
                result[result.count - 1].params += row.params
                result[result.count - 1].trainableParams += row.trainableParams
                result[result.count - 1].macs += row.macs
                result[result.count - 1].activationBytes += row.activationBytes
            } else {
                result.append(Row(name: scope.name, type: scope.className, outputShape: row.outputShape, params: row.params,
                                  trainableParams: row.trainableParams, macs: row.macs, activationBytes: row.activationBytes,
                                  sourceName: scope.name, canonicalName: scope.name, scopes: [scope]))
            }
        }
        return result
    }

    public var modelName: String
    public var format: String
    /// Keras-style input shape without the batch axis.
    public var inputShape: [Int]
    public var rows: [Row]
    public var totalParams: Int
    public var trainableParams: Int
    public var nonTrainableParams: Int
    public var totalParamBytes: Int
    public var trainableParamBytes: Int
    public var nonTrainableParamBytes: Int
    /// Parameter bytes per dtype name.
    public var paramBytesByDType: [String: Int]
    /// Multiply-accumulate operations for one sample, exact.
    public var totalMacs: Decimal
    public var activationBytes: Int
    /// True for PyTorch sources: rows show canonical names and the module path beside them.
    public var showsSourceColumn: Bool
    /// The title of that column: what the source file calls a layer.
    public var sourceColumnTitle = "PyTorch module"
    /// The optimizer state the file holds (Keras 3 prints it under the totals and counts it in them).
    public var optimizer: OptimizerState?

    /// Summarises `architecture`. `dtypes` maps tensor names to their stored dtypes (float32 when
    /// absent, as for a bare architecture JSON); `channelsFirst` prints (C, H, W) shapes as Keras does
    /// for channels_first models; `rowNames` chooses source or canonical names for the rows.
    public static func make(_ architecture: NativeArchitecture, modelName: String, format: String,
                            dtypes: [String: DType] = [:], channelsFirst: Bool = false,
                            canonicalRowNames: Bool = false) -> ModelSummary {
        var rows: [Row] = []
        var totals = (params: 0, trainable: 0, bytes: 0, trainableBytes: 0, macs: Decimal(0), activations: 0)
        var byDType: [String: Int] = [:]
        var previous = architecture.inputShape
        for layer in architecture.layers {
            let shapes = ParameterShapes.of(layer, input: previous)
            var params = 0, trainable = 0
            // Totals saturate rather than trap: a bare architecture JSON may describe an absurd model.
            let add = ShapeMath.saturatingSum
            for (role, shape) in shapes {
                let count = ShapeMath.elementCount(shape) ?? .max
                let dtype = dtypes[role.tensorName(ofLayer: layer.name)] ?? .float32
                let bytes = ShapeMath.saturatingProduct([count, dtype.byteSize])
                params = add(params, count)
                byDType[dtype.rawValue] = add(byDType[dtype.rawValue, default: 0], bytes)
                totals.bytes = add(totals.bytes, bytes)
                if role.isTrainable && layer.isTrainable {
                    trainable = add(trainable, count)
                    totals.trainableBytes = add(totals.trainableBytes, bytes)
                }
            }
            let outputs = ShapeMath.elementCount(layer.outputShape) ?? 0
            let macs = Self.macs(layer, input: previous)
            rows.append(Row(name: canonicalRowNames ? layer.name : layer.sourceName, type: layer.type.rawValue,
                            outputShape: [nil] + Self.kerasShape(layer.outputShape, channelsFirst: channelsFirst).map { Optional($0) },
                            params: params, trainableParams: trainable, macs: macs, activationBytes: ShapeMath.saturatingProduct([outputs, 4]),
                            sourceName: layer.sourceName, canonicalName: layer.name, scopes: layer.scopes ?? []))
            totals.params = add(totals.params, params)
            totals.trainable = add(totals.trainable, trainable)
            totals.macs += macs
            totals.activations = add(totals.activations, ShapeMath.saturatingProduct([outputs, 4]))
            previous = layer.outputShape
        }
        return ModelSummary(modelName: modelName, format: format,
                            inputShape: kerasShape(architecture.inputShape, channelsFirst: channelsFirst), rows: rows,
                            totalParams: totals.params, trainableParams: totals.trainable,
                            nonTrainableParams: totals.params - totals.trainable, totalParamBytes: totals.bytes,
                            trainableParamBytes: totals.trainableBytes, nonTrainableParamBytes: totals.bytes - totals.trainableBytes,
                            paramBytesByDType: byDType, totalMacs: totals.macs, activationBytes: totals.activations,
                            showsSourceColumn: canonicalRowNames)
    }

    /// (C, H, W) → (H, W, C) unless the model is channels_first; flat shapes unchanged.
    static func kerasShape(_ shape: [Int], channelsFirst: Bool) -> [Int] {
        channelsFirst ? shape : ChannelOrder.channelsLast(shape)
    }

    /// A convolution's or dense layer's multiply-accumulates for one sample, exact; 0 for other layers.
    static func macs(_ layer: NativeLayer, input: [Int]) -> Decimal {
        let product = { (factors: [Int]) in factors.reduce(Decimal(1)) { $0 * Decimal($1) } }
        switch layer.type {
        case .conv2d:
            guard let window = try? LayerSchema.convolutionWindow(layer.config) else { return 0 }
            return product(layer.outputShape + [window.height, window.width, input.first ?? 0])
        case .dense:
            return product(input + [layer.config.units ?? 0])
        default:
            return 0
        }
    }
}

/// The canonical shapes of a layer's parameters, derived from its config and input shape.
public enum ParameterShapes {
    /// `LayerSchema.parameterShapes`, empty for a layer the schema refuses (checked models never have one).
    public static func of(_ layer: NativeLayer, input: [Int]) -> [(ParameterRole, [Int])] {
        ((try? LayerSchema.parameterShapes(of: layer.type, layer.config, input: input)) ?? []).map { ($0.role, $0.shape) }
    }
}
