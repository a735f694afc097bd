import FileIO
import VGGCore

/// Builds an architecture for weights-only Keras files (tf-keras `save_weights`, the Keras-1-era
/// pretrained files), which record layer names and weights but no layer configs. Types come from the
/// weights' shapes and, for weightless layers, from Keras's naming (`block1_pool`, `flatten`,
/// `dropout_1`, `re_lu`). What cannot be read is assumed as keras.applications' VGG does it, and
/// recorded in the provenance notes.
enum ArchitectureInference {
    static func notes(for layers: [SourceLayer], inferred: Bool) -> [String] {
        guard inferred else { return [] }
        return ["assumed as in keras.applications VGG: 3x3 convolutions with padding 'same', 2x2 max pools with stride 2, ReLU after each convolution and hidden dense layer unless BatchNormalization follows, softmax on the last dense layer, BatchNormalization epsilon \(SourceFramework.keras.batchNormEpsilon)"]
    }

    static func infer(names: [String], weights: [String: [(name: String, tensor: SourceTensor)]], path: String) throws -> [SourceLayer] {
        let lastWeightedDense = names.lastIndex { name in
            (weights[name] ?? []).contains { $0.tensor.shape.count == 2 }
        }
        return try names.enumerated().map { position, name in
            let stored = weights[name] ?? []
            let nextIsNorm = position + 1 < names.count && isNormalization(names[position + 1], weights[names[position + 1]] ?? [])
            if stored.isEmpty { return try weightless(name: name, position: position) }
            // A nested model's group holds its layers' weights under their own names (`block5_conv1/kernel:0`
            // in group `vgg16`), trainable ones first: neither the inner order nor the pools are recorded.
            let owners = Set(stored.map { LegacyWeights.owner(of: $0.name) }.filter { !$0.isEmpty && $0 != name })
            if !owners.isEmpty {
                throw KerasFormatError.needsConfig(path: path, reason: "layer \(SafeText.quote(name)) is a nested model (its weights belong to \(owners.count) layers such as \(SafeText.quote(owners.sorted()[0]))), whose layers and their order a weights-only file does not record")
            }
            var roles: [ParameterRole] = []
            for weight in stored {
                guard let role = WeightNaming.role(of: weight.name, layer: name) else {
                    throw KerasFormatError.needsConfig(path: path, reason: "cannot tell what weight '\(weight.name)' of layer \(name) is")
                }
                roles.append(role)
            }
            var layer: SourceLayer
            if let kernel = zip(roles, stored).first(where: { $0.0 == .kernel })?.1.tensor {
                let useBias = roles.contains(.bias)
                switch kernel.shape.count {
                case 4:
                    layer = SourceLayer(name: name, type: .conv2d, config: LayerConfig(
                        filters: kernel.shape[3], kernelSize: [kernel.shape[0], kernel.shape[1]], strides: [1, 1],
                        padding: .same, activation: nextIsNorm ? "linear" : "relu", useBias: useBias))
                case 2:
                    let activation = position == lastWeightedDense ? "softmax" : (nextIsNorm ? "linear" : "relu")
                    layer = SourceLayer(name: name, type: .dense, config: LayerConfig(
                        activation: activation, useBias: useBias, units: kernel.shape[1]))
                default:
                    throw VGGError.unsupportedLayer(name: name, type: "kernel of rank \(kernel.shape.count)", position: position,
                                                    hint: "only 2-D convolutions and dense layers are supported")
                }
            } else if roles.contains(.movingMean) {
                layer = SourceLayer(name: name, type: .batchNormalization, config: LayerConfig(
                    epsilon: SourceFramework.keras.batchNormEpsilon, center: roles.contains(.beta), scale: roles.contains(.gamma)))
            } else {
                throw KerasFormatError.needsConfig(path: path, reason: "cannot tell the type of layer \(name) from its weights")
            }
            layer.parameters = try ParameterRoles.attach(roles: roles, tensors: stored.map(\.tensor), to: layer, path: path)
            return layer
        }
    }

    private static func isNormalization(_ name: String, _ stored: [(name: String, tensor: SourceTensor)]) -> Bool {
        stored.contains { WeightNaming.role(of: $0.name, layer: name) == .movingMean }
    }

    /// Weightless layers by Keras's automatic names (`max_pooling2d_3`) or VGG's (`block1_pool`).
    private static func weightless(name: String, position: Int) throws -> SourceLayer {
        let lower = name.lowercased()
        let type: LayerType
        var config = LayerConfig()
        if lower.contains("pool") {
            type = .maxPooling2d
            config = LayerConfig(strides: [2, 2], padding: .valid, poolSize: [2, 2])
        } else if lower.hasPrefix("flatten") {
            type = .flatten
        } else if lower.hasPrefix("dropout") {
            type = .dropout
        } else if lower.hasPrefix("re_lu") || lower.hasPrefix("relu") {
            type = .relu
            config.activation = "relu"
        } else if lower.hasPrefix("softmax") {
            type = .softmax
            config.activation = "softmax"
        } else if lower.hasPrefix("input") {
            type = .input
        } else {
            throw VGGError.unsupportedLayer(name: name, type: "unknown (weights-only file)", position: position,
                                            hint: "its type cannot be told from its name; give the model's architecture JSON (the output of model.to_json())")
        }
        return SourceLayer(name: name, type: type, config: config)
    }
}
