import FileIO
/// A tensor scheduled for the native file: where its bytes come from and how they are rearranged.
public struct PlannedTensor: Sendable {
    public var name: String
    public var sourceName: String
    public var sourceDType: DType
    public var sourceShape: [Int]
    public var dtype: DType
    public var shape: [Int]
    public var layout: TensorLayout
    public var conversion: LayoutConversion
    public var data: TensorData

    /// Bytes of the converted tensor.
    public var nbytes: Int { (ShapeMath.elementCount(shape) ?? 0) * dtype.byteSize }
}

/// A source model turned into canonical form: names, shapes, and the per-tensor conversions.
public struct ConversionPlan: Sendable {
    public var architecture: NativeArchitecture
    public var tensors: [PlannedTensor]
    public var sourceFormat: String
    public var sourcePath: String
    public var notes: [String]
    /// Choices the reader made that the file does not record.
    public var assumptions: [Assumption] = []
    /// True when the source records no input size and `architecture.inputShape` is derived or assumed.
    public var inputShapeAssumed = false
}

/// Turns a `SourceModel` into a `ConversionPlan`: assigns canonical names, follows shapes through the
/// layers, checks every weight's shape against the architecture and picks each tensor's conversion.
public enum ModelAssembler {
    /// Builds the plan. `targetDType` converts floating-point tensors (nil keeps them as stored).
    /// - Throws: `VGGError.unsupportedLayer`, `.unexpectedShape` or `.architecture` naming the layer.
    public static func plan(_ model: SourceModel, targetDType: DType? = nil) throws -> ConversionPlan {
        let names = CanonicalNames.assign(model.layers.map(\.type))
        var notes = model.notes + model.assumptions.map(\.note)
        let input = try resolveInputShape(model, notes: &notes)
        var state = try ShapeState(canonicalInput: input)
        var layers: [NativeLayer] = []
        var tensors: [PlannedTensor] = []
        var pendingFlatten: (channels: Int, spatial: Int)?

        for (index, layer) in model.layers.enumerated() {
            let name = names[index]
            let before = state
            try state.apply(layer, position: index)
            var parameterNames: [String] = []
            for parameter in layer.parameters {
                let tensorName = "\(name).\(parameter.role.canonicalSuffix)"
                let (shape, layout, conversion) = try canonicalForm(
                    of: parameter, layer: layer, layerName: name, before: before,
                    flatten: layer.type == .dense && model.dataFormat == .channelsLast ? pendingFlatten : nil)
                var dtype = parameter.tensor.dtype
                if let targetDType, dtype.isFloatingPoint { dtype = targetDType }
                tensors.append(PlannedTensor(name: tensorName, sourceName: parameter.tensor.sourceName,
                                             sourceDType: parameter.tensor.dtype, sourceShape: parameter.tensor.shape,
                                             dtype: dtype, shape: shape, layout: layout, conversion: conversion,
                                             data: parameter.tensor.data))
                parameterNames.append(tensorName)
            }
            if layer.type == .flatten, case .spatial(let c, let h, let w) = before.value {
                pendingFlatten = (c, h * w)
            } else if layer.type == .dense {
                pendingFlatten = nil
            }
            layers.append(NativeLayer(name: name, sourceName: layer.name, type: layer.type, config: layer.config,
                                      outputShape: state.canonicalShape, parameters: parameterNames,
                                      scopes: layer.scopes, trainable: layer.trainable))
        }
        var plan = ConversionPlan(architecture: NativeArchitecture(inputShape: input, layers: layers,
                                                                   inferred: model.architectureInferred),
                                  tensors: tensors, sourceFormat: model.format, sourcePath: model.path, notes: notes)
        plan.inputShapeAssumed = model.inputShape?.count != 3
        plan.assumptions = model.assumptions
        return plan
    }

    /// The model input as (C, H, W): from the file, else derived from the first dense layer after
    /// `Flatten`, else 224×224 with the first convolution's input channels.
    static func resolveInputShape(_ model: SourceModel, notes: inout [String]) throws -> [Int] {
        if let shape = model.inputShape, shape.count == 3 {
            return model.dataFormat == .channelsLast ? ChannelOrder.channelsFirst(shape) : shape
        }
        let channels = firstConvInputChannels(model) ?? 3
        if let side = try inferredInputSide(model) {
            notes.append("input shape inferred from the first dense layer after Flatten: \(side)x\(side)x\(channels)")
            return [channels, side, side]
        }
        notes.append("input shape not recorded in the file; assumed 224x224x\(channels)")
        return [channels, 224, 224]
    }

    private static func firstConvInputChannels(_ model: SourceModel) -> Int? {
        for layer in model.layers where layer.type == .conv2d {
            guard let kernel = layer.parameters.first(where: { $0.role == .kernel })?.tensor, kernel.shape.count == 4 else { return nil }
            return kernel.layout == .oihw ? kernel.shape[1] : kernel.shape[2]
        }
        return nil
    }

    /// Works backwards from the size the first dense after Flatten expects to the smallest square input.
    private static func inferredInputSide(_ model: SourceModel) throws -> Int? {
        guard let flattenIndex = model.layers.firstIndex(where: { $0.type == .flatten }),
              let dense = model.layers[flattenIndex...].first(where: { $0.type == .dense }),
              let kernel = dense.parameters.first(where: { $0.role == .kernel })?.tensor, kernel.shape.count == 2
        else { return nil }
        let inputs = kernel.layout == .outIn ? kernel.shape[1] : kernel.shape[0]
        var channels = 0
        for layer in model.layers[..<flattenIndex] where layer.type == .conv2d {
            channels = layer.config.filters ?? 0
        }
        guard channels > 0, inputs % channels == 0 else { return nil }
        let area = inputs / channels
        var side = Int(Double(area).squareRoot().rounded())
        guard side * side == area else { return nil }
        for layer in model.layers[..<flattenIndex].reversed() {
            let window: LayerSchema.Window
            switch layer.type {
            case .conv2d: guard let w = try? LayerSchema.convolutionWindow(layer.config) else { return nil }; window = w
            case .maxPooling2d: guard let w = try? LayerSchema.poolingWindow(layer.config) else { return nil }; window = w
            default: continue
            }
            let (grown, overflow) = (side - 1).multipliedReportingOverflow(by: window.strideY)
            guard !overflow, grown < LayerSchema.Limit.spatialSide else { return nil }
            side = window.padding == .same ? side * window.strideY : grown + window.height
        }
        return side
    }

    /// The canonical shape, layout and conversion of one parameter, after checking its source shape
    /// against the shape `LayerSchema` derives from the layer's config and input.
    private static func canonicalForm(of parameter: SourceParameter, layer: SourceLayer, layerName: String,
                                      before: ShapeState, flatten: (channels: Int, spatial: Int)?) throws
        -> ([Int], TensorLayout, LayoutConversion) {
        let tensor = parameter.tensor
        let expected: [Int]
        do {
            expected = try LayerSchema.parameterShape(parameter.role, of: layer.type, layer.config, input: before.canonicalShape)
        } catch {
            throw VGGError.architecture(reason: "layer \(SafeText.quote(layer.name)) (type \(layer.type.rawValue)) \(error.reason)")
        }
        func mismatch(_ shape: [Int]) -> VGGError {
            .unexpectedShape(tensor: tensor.sourceName, layer: layer.name, expected: shape, actual: tensor.shape)
        }
        let layout = LayerSchema.layout(parameter.role, of: layer.type)
        switch (layout, tensor.layout) {
        case (.oihw, .hwio):
            let (o, i, kh, kw) = (expected[0], expected[1], expected[2], expected[3])
            guard tensor.shape == [kh, kw, i, o] else { throw mismatch([kh, kw, i, o]) }
            return (expected, .oihw, .hwioToOIHW(kernelHeight: kh, kernelWidth: kw, inputs: i, outputs: o))
        case (.outIn, .inOut):
            let (units, inputs) = (expected[0], expected[1])
            guard tensor.shape == [inputs, units] else { throw mismatch([inputs, units]) }
            return (expected, .outIn, .inOutToOutIn(inputs: inputs, outputs: units, flattenedSpatial: flatten?.spatial ?? 1))
        default:
            guard tensor.shape == expected else { throw mismatch(expected) }
            return (expected, layout, .identity)
        }
    }
}

/// The activation shape as it flows through the layers, channels first, without the batch axis.
/// Each step asks `LayerSchema` and checks the result against its limits.
struct ShapeState {
    enum Value { case spatial(Int, Int, Int), flat(Int) }
    private(set) var canonicalShape: [Int]

    init(canonicalInput shape: [Int]) throws {
        guard shape.count == 3 else {
            throw VGGError.architecture(reason: "input shape \(shape) is not a positive (C, H, W) shape")
        }
        do {
            try LayerSchema.checkActivation(shape)
        } catch {
            throw VGGError.architecture(reason: "input shape: \(error.reason)")
        }
        canonicalShape = shape
    }

    var value: Value {
        canonicalShape.count == 3 ? .spatial(canonicalShape[0], canonicalShape[1], canonicalShape[2]) : .flat(canonicalShape[0])
    }
    var channels: Int? { canonicalShape.count == 3 ? canonicalShape[0] : nil }
    var flatCount: Int? { canonicalShape.count == 1 ? canonicalShape[0] : nil }

    /// Follows `layer`; throws naming the layer when its config is out of range or it cannot take the
    /// current shape.
    mutating func apply(_ layer: SourceLayer, position: Int) throws {
        do {
            let next = try LayerSchema.outputShape(layer.type, layer.config, input: canonicalShape)
            try LayerSchema.checkActivation(next)
            canonicalShape = next
        } catch {
            throw VGGError.architecture(reason: "layer \(SafeText.quote(layer.name)) (type \(layer.type.rawValue)) at position \(position) \(error.reason)")
        }
    }
}

/// Canonical Keras-style names from the layer sequence alone, so that a Keras file and a PyTorch file
/// of the same model get the same names: `blockB_convC` (blocks end at pools), `blockB_pool`,
/// `<conv>_bn`, `fc1`, `fc2`, …, the last dense `predictions`, and Keras-style counters for the rest.
public enum CanonicalNames {
    public static func assign(_ types: [LayerType]) -> [String] {
        let lastDense = types.lastIndex(of: .dense)
        var block = 1, convInBlock = 0, denseCount = 0
        var counters: [String: Int] = [:]
        var lastWeighted: String?
        func counted(_ base: String) -> String {
            let n = counters[base, default: 0]
            counters[base] = n + 1
            return n == 0 ? base : "\(base)_\(n)"
        }
        var used = Set<String>()
        /// A name already given (two BatchNorms after one conv, say) gets a counter, as Keras does.
        func unique(_ name: String) -> String {
            var candidate = name, n = 0
            while used.contains(candidate) {
                n += 1
                candidate = "\(name)_\(n)"
            }
            used.insert(candidate)
            return candidate
        }
        func name(_ index: Int, _ type: LayerType) -> String {
            switch type {
            case .conv2d:
                convInBlock += 1
                lastWeighted = "block\(block)_conv\(convInBlock)"
                return lastWeighted!
            case .maxPooling2d:
                defer { block += 1; convInBlock = 0 }
                return "block\(block)_pool"
            case .dense:
                denseCount += 1
                lastWeighted = index == lastDense ? "predictions" : "fc\(denseCount)"
                return lastWeighted!
            case .batchNormalization:
                return lastWeighted.map { "\($0)_bn" } ?? counted("batch_normalization")
            case .input: return counted("input_layer")
            case .flatten: return counted("flatten")
            case .dropout: return counted("dropout")
            case .activation: return counted("activation")
            case .relu: return counted("re_lu")
            case .softmax: return counted("softmax")
            case .adaptiveAvgPool2d: return counted("avgpool")
            case .globalAveragePooling2d: return counted("global_average_pooling2d")
            case .globalMaxPooling2d: return counted("global_max_pooling2d")
            }
        }
        return types.enumerated().map { index, type in unique(name(index, type)) }
    }
}

extension NativeArchitecture {
    /// The layers up to the first global pooling (all of them without one): those whose shapes depend
    /// on the input's height and width.
    public var layersBeforeGlobalPooling: ArraySlice<NativeLayer> {
        layers.prefix { !$0.type.isGlobalPooling }
    }

    /// The same layers for another input (C, H, W): output shapes recomputed, as a fully convolutional
    /// model (no Flatten → Dense) runs on any image size.
    /// - Throws: `VGGError.architecture` naming the first layer that cannot take the new size.
    public func withInput(_ shape: [Int]) throws -> NativeArchitecture {
        var state = try ShapeState(canonicalInput: shape)
        var copy = self
        copy.inputShape = shape
        for index in copy.layers.indices {
            let layer = copy.layers[index]
            try state.apply(SourceLayer(name: layer.name, type: layer.type, config: layer.config), position: index)
            copy.layers[index].outputShape = state.canonicalShape
        }
        return copy
    }
}
