import Foundation
import FileIO
import VGGCore

/// Reads every Keras flavour into a `SourceModel`:
/// - Keras 2 / tf-keras `save_weights('x.h5')` and the Keras-1-era pretrained files (root `layer_names`);
/// - Keras 2 and 3 `model.save('x.h5')` (`model_config` + `model_weights`);
/// - Keras 3 `x.weights.h5` (`layers/<class>_N/vars/<i>`, which needs an architecture from `--config`);
/// - Keras 3 `.keras` archives (`config.json` + `model.weights.h5`, opened in place).
/// Tensor data is never copied here: tensors point into the memory-mapped file.
public enum KerasReader {
    /// Reads `path`, taking the architecture from `configJSON` when given.
    /// - Throws: `KerasFormatError`, `HDF5Error` or `VGGError`, each naming the file and the layer.
    /// `architecture` (`vgg16`, `vgg16_bn`, …) supplies the layers of a Keras 3 `.weights.h5` that comes
    /// without a config (see `NamedVGG`).
    /// `savedModel`: the file is the `model.weights.h5` of a model folder (`save_model(zipped=False)`),
    /// read like the same file inside a `.keras` archive.
    public static func read(path: String, configJSON: Data? = nil, configOrigin: String = "the model config",
                            architecture: String? = nil, savedModel: Bool = false) throws -> SourceModel {
        try read(file: try MappedFile(path: path, role: .model), configJSON: configJSON, configOrigin: configOrigin,
                 architecture: architecture, savedModel: savedModel)
    }

    /// `read(path:)` of a file already mapped, or of bytes in memory (`MappedFile(bytes:name:)`); only a
    /// sharded-weights index needs a path on disk, for the shards beside it.
    public static func read(file mapped: MappedFile, configJSON: Data? = nil, configOrigin: String = "the model config",
                            architecture: String? = nil, savedModel: Bool = false) throws -> SourceModel {
        try CrashIsolation.isolated(mapped.path, fileBytes: mapped.count, encode: IsolatedRead.encode,
                                    decode: { try IsolatedRead.decodeModel($0, file: mapped) }) {
            try readInProcess(mapped, configJSON: configJSON, configOrigin: configOrigin, architecture: architecture,
                              savedModel: savedModel)
        }
    }

    /// The read itself; runs in the isolated child only.
    private static func readInProcess(_ mapped: MappedFile, configJSON: Data?, configOrigin: String, architecture: String?,
                                      savedModel: Bool) throws -> SourceModel {
        let path = mapped.path
        let prefix = mapped.bytes(offset: 0, length: 8)
        var config = try configJSON.map { try KerasArchitecture(json: $0, origin: configOrigin) }
        if prefix.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") {
            return try readShards(path: path, config: config)
        }
        let file: HDF5File
        var format: String
        if ZipArchive.hasMagic(prefix) {
            let archive = try ZipArchive(file: mapped)
            guard let weights = archive.entry(named: "model.weights.h5") else {
                throw KerasFormatError.notKeras(path: path, reason: "zip archive has no model.weights.h5 (is it a .keras file?)")
            }
            if config == nil, let entry = archive.entry(named: "config.json") {
                let bytes = try archive.data(of: entry).withUnsafeBytes { Data($0) }
                config = try KerasArchitecture(json: bytes, origin: "\(path): config.json")
            }
            guard weights.method == 0 else {
                throw KerasFormatError.notKeras(path: path, reason: "model.weights.h5 is compressed inside the archive; Keras writes it stored: re-save the model with Keras, or zip its files again without compression (zip -0)")
            }
            file = try HDF5File(file: mapped, offset: weights.dataOffset, count: weights.compressedSize,
                                displayPath: "\(path): model.weights.h5")
            format = "keras3-archive"
        } else {
            file = try HDF5File(file: mapped)
            format = ""
        }
        let root = try file.root
        let layers: [SourceLayer]
        var assumed: [String] = []
        if try root.chunkedStringsAttribute("layer_names") != nil {
            let keras1 = !root.hasAttribute("keras_version")
            format = keras1 ? "keras1-weights-h5" : "keras2-weights-h5"
            layers = try LegacyWeights(group: root).layers(config: config, path: path)
        } else if root.isGroup("model_weights") {
            format = (try root.stringsAttribute("keras_version")?.first).map { "keras\($0.prefix(1))-model-h5" } ?? "keras-model-h5"
            if config == nil, let text = try root.stringsAttribute("model_config")?.first {
                config = try KerasArchitecture(json: Data(text.utf8), origin: "\(path): model_config")
            }
            layers = try LegacyWeights(group: try root.group("model_weights")).layers(config: config, path: path)
        } else if root.isGroup("layers") || root.isGroup("_layer_checkpoint_dependencies") {
            if format.isEmpty { format = savedModel ? "keras3-folder" : "keras3-weights-h5" }
            let container = try root.group(root.isGroup("layers") ? "layers" : "_layer_checkpoint_dependencies")
            if config == nil, let architecture {
                config = try NamedVGG.config(architecture, weights: container, path: path)
                assumed.append("layers of keras.applications' \(architecture.lowercased()) assumed (the architecture named): the file records the convolutions and dense layers in order, not the pools")
            }
            guard let config else {
                throw KerasFormatError.needsConfig(path: path, reason: "a Keras 3 .weights.h5 records neither layer names nor layer order (or name the keras.applications VGG it holds)",
                                                   architectureNameWorks: true)
            }
            layers = try Keras3Weights<HDF5Group>(group: container, checksNames: assumed.isEmpty).layers(config: config, path: path)
        } else {
            throw KerasFormatError.notKeras(path: path, reason: "HDF5 file has no layer_names attribute, model_weights group or layers group")
        }
        var notes = assumed
        if config == nil { notes.append("architecture inferred from layer names and weight shapes (no model config in the file)") }
        var model = SourceModel(format: format, path: path, layers: layers, inputShape: config?.inputShape,
                                dataFormat: config?.dataFormat ?? .channelsLast, architectureInferred: config == nil || !assumed.isEmpty,
                                notes: notes + ArchitectureInference.notes(for: layers, inferred: config == nil))
        model.modelName = config?.modelName
        model.optimizer = try OptimizerVariables.state(root: root, format: format)
        return model
    }

    /// Keras 3 sharded weights: the index at `path`, its shards beside it, the layers from `config`.
    private static func readShards(path: String, config: KerasArchitecture?) throws -> SourceModel {
        let index = try ShardIndex(path: path)
        guard let config else {
            throw KerasFormatError.needsConfig(path: path, reason: "sharded Keras 3 weights record neither layer names nor layer order")
        }
        let shards = try index.shards.map { try HDF5File(file: try MappedFile(path: $0, role: .shard)) }
        let store = try ShardedGroup(shards: shards, relative: "layers")
        let layers = try Keras3Weights(group: store).layers(config: config, path: path)
        var model = SourceModel(format: "keras3-sharded-weights", path: path, layers: layers, inputShape: config.inputShape,
                                dataFormat: config.dataFormat, architectureInferred: false,
                                notes: ["weights read from \(shards.count) shard files named by the index"])
        model.modelName = config.modelName
        return model
    }

    /// The architecture alone, from a Keras model JSON (`model.to_json()`, a `.keras` config.json).
    /// - Throws: `KerasFormatError.badConfig` or `VGGError.unsupportedLayer`.
    public static func architecture(json: Data, origin: String) throws -> SourceModel {
        let config = try KerasArchitecture(json: json, origin: origin)
        var model = SourceModel(format: "keras-config-json", path: origin, layers: config.listedLayers.map(\.layer),
                                inputShape: config.inputShape, dataFormat: config.dataFormat, architectureInferred: false)
        model.modelName = config.modelName
        return model
    }
}

/// What Keras 3 reports as "Optimizer params" for a file it loads.
enum OptimizerVariables {
    /// A `.keras` archive (or a model folder) restores every variable under `optimizer/vars` (Adam: iterations, learning
    /// rate, two moments per trainable weight). Keras 3's legacy `.h5` loader compiles the model from
    /// `training_config` but restores no slots: its optimizer holds only the iteration counter (int64)
    /// and the learning rate (float32). tf-keras files print no optimizer line.
    static func state(root: HDF5Group, format: String) throws -> ModelSummary.OptimizerState? {
        if format == "keras3-archive" || format == "keras3-folder", root.isGroup("optimizer/vars") {
            let vars = try root.group("optimizer/vars")
            var state = ModelSummary.OptimizerState(params: 0, bytes: 0)
            for name in try vars.childNames() where vars.isDataset(name) {
                let dataset = try vars.dataset(name)
                let count = ShapeMath.elementCount(try dataset.shape()) ?? 0
                state.params = ShapeMath.saturatingSum(state.params, count)
                state.bytes = ShapeMath.saturatingSum(state.bytes, ShapeMath.saturatingProduct([count, try dataset.dtype().byteSize]))
            }
            return state
        }
        if format == "keras3-model-h5", root.hasAttribute("training_config") {
            return ModelSummary.OptimizerState(params: 2, bytes: 8 + 4)
        }
        return nil
    }
}

/// The legacy layout: one group per layer named in `layer_names`, each with a `weight_names` list.
struct LegacyWeights {
    let group: HDF5Group

    func layers(config: KerasArchitecture?, path: String) throws -> [SourceLayer] {
        let names = try group.chunkedStringsAttribute("layer_names") ?? []
        var weightsByLayer: [String: [(name: String, tensor: SourceTensor)]] = [:]
        for name in names {
            guard group.isGroup(name) else {
                throw KerasFormatError.mismatch(path: path, reason: "layer_names lists '\(name)' but the file has no group of that name")
            }
            let layerGroup = try group.group(name)
            let weightNames = try layerGroup.chunkedStringsAttribute("weight_names") ?? []
            weightsByLayer[name] = try weightNames.map { weightName in
                (weightName, try TensorLoader.load(try layerGroup.dataset(weightName)))
            }
        }
        guard let config else {
            return try ArchitectureInference.infer(names: names, weights: weightsByLayer, path: path)
        }
        var unused = Set(names.filter { !(weightsByLayer[$0] ?? []).isEmpty })
        var claimedInGroup: [String: Int] = [:]
        let layers = try config.listedLayers.map { entry -> SourceLayer in
            var layer = entry.layer
            // A nested model's group holds all of its layers' weights, `block5_conv1/kernel:0`, trainable
            // ones first (block5 before block1 when only block5 is unfrozen): matched by name, never by position.
            let group = layer.scopes.first?.name ?? entry.name
            unused.remove(group)
            var weights = weightsByLayer[group] ?? []
            if !layer.scopes.isEmpty {
                weights = weights.filter { Self.owner(of: $0.name) == entry.name }
                claimedInGroup[group, default: 0] += weights.count
            }
            let roles = try weights.map { weight -> ParameterRole in
                guard let role = WeightNaming.role(of: weight.name, layer: entry.name) else {
                    throw KerasFormatError.mismatch(path: path, reason: "cannot tell what weight '\(SafeText.quote(weight.name))' of layer \(SafeText.quote(entry.name)) is")
                }
                return role
            }
            layer.parameters = try ParameterRoles.attach(roles: roles, tensors: weights.map(\.tensor), to: layer, path: path)
            return layer
        }
        if let extra = unused.sorted().first {
            throw KerasFormatError.mismatch(path: path, reason: "the weights file has layer '\(SafeText.quote(extra))' with weights, which the architecture does not have")
        }
        for (group, claimed) in claimedInGroup.sorted(by: { $0.key < $1.key }) {
            let stored = weightsByLayer[group] ?? []
            guard claimed == stored.count else {
                let stray = stored.first { weight in !config.listedLayers.contains { $0.layer.scopes.first?.name == group && $0.name == Self.owner(of: weight.name) } }
                throw KerasFormatError.mismatch(path: path, reason: "nested model \(SafeText.quote(group)) stores weight '\(SafeText.quote(stray?.name ?? "?"))', which belongs to no layer of its config")
            }
        }
        return layers
    }

    /// The layer a stored weight name belongs to: `block5_conv1` in `block5_conv1/kernel:0` (and in
    /// `vgg16/block5_conv1/kernel`, as some Keras versions prefix the nested model's name).
    static func owner(of weightName: String) -> String {
        let parts = weightName.split(separator: "/")
        return parts.count >= 2 ? String(parts[parts.count - 2]) : ""
    }
}

/// The Keras 3 layout: `layers/<snake_case class>[_N]/vars/<index>`, matched to config layers by class
/// and order of appearance (the counters are per class, so HDF5's name order does not matter).
struct Keras3Weights<Store: Keras3VariableStore> {
    let group: Store
    /// Check the `name` Keras ≥ 3.6 stores on each `vars` group against the config's layer name (off
    /// when the names were assumed, as `--arch` does).
    var checksNames = true

    func layers(config: KerasArchitecture, path: String) throws -> [SourceLayer] {
        try layers(of: config, in: group, path: path)
    }

    /// The layers of one model whose variables sit under `container` (`layers/` at the top, then
    /// `layers/functional/layers/` for a nested model): keys are counted per class within each model.
    private func layers(of config: KerasArchitecture, in container: Store, path: String) throws -> [SourceLayer] {
        var keys = Keras3LayerKeys()
        var consumed = Set<String>()
        var layers: [SourceLayer] = []
        let shown = container.location
        func key(_ className: String) -> String { keys.next(className) }
        for entry in config.listedEntries {
            switch entry {
            case .model(let name, let className, let inner):
                let key = key(className)
                guard container.isGroup("\(key)/layers") else {
                    if inner.listedLayers.contains(where: { !ParameterRoles.expected(for: $0.layer).isEmpty }) {
                        throw KerasFormatError.mismatch(path: path, reason: "nested model \(SafeText.quote(name)) (\(className)) should be stored at \(shown)/\(key)/layers but the file has no such group")
                    }
                    layers += inner.listedLayers.map(\.layer)
                    continue
                }
                consumed.insert(key)
                layers += try self.layers(of: inner, in: try container.subgroup("\(key)/layers"), path: path)
            case .layer(let entry):
                let key = key(entry.className)
                var layer = entry.layer
                var tensors: [SourceTensor] = []
                if container.isGroup("\(key)/vars") {
                    consumed.insert(key)
                    let vars = try container.subgroup("\(key)/vars")
                    if checksNames, let stored = try vars.storedName(), stored != entry.name {
                        throw KerasFormatError.mismatch(path: path, reason: "\(shown)/\(key) holds layer \(SafeText.quote(stored))'s weights where the config has \(SafeText.quote(entry.name)) (\(entry.className))")
                    }
                    let count = try vars.childNames().count
                    tensors = try (0..<count).map { index in
                        guard vars.isDataset(String(index)) else {
                            throw KerasFormatError.mismatch(path: path, reason: "\(shown)/\(key)/vars has \(count) entries but no '\(index)'")
                        }
                        return try vars.tensor(String(index))
                    }
                } else if ParameterRoles.expected(for: layer).count > 0 {
                    throw KerasFormatError.mismatch(path: path, reason: "layer \(SafeText.quote(entry.name)) (\(entry.className)) should be stored at \(shown)/\(key) but the file has no such group")
                }
                layer.parameters = try ParameterRoles.attach(roles: nil, tensors: tensors, to: layer, path: path)
                layers.append(layer)
            }
        }
        for key in try container.childNames() where !consumed.contains(key) {
            if container.isGroup("\(key)/vars"), try container.subgroup("\(key)/vars").childNames().count > 0 {
                throw KerasFormatError.mismatch(path: path, reason: "the weights file has \(shown)/\(key) with weights, which the architecture does not have")
            }
        }
        return layers
    }
}

/// The group names Keras 3 gives one model's layers: `<snake_case class>`, then `_1`, `_2`, … per class in
/// model order (`conv2d`, `conv2d_1`, …, `max_pooling2d`). Readers and the writer count the same way.
struct Keras3LayerKeys {
    private var counters: [String: Int] = [:]

    /// The key of the next layer of `className`.
    mutating func next(_ className: String) -> String {
        let base = Self.snakeCase(className)
        let n = counters[base, default: 0]
        counters[base] = n + 1
        return n == 0 ? base : "\(base)_\(n)"
    }

    /// Keras's `to_snake_case`: `MaxPooling2D` → `max_pooling2d`, `ReLU` → `re_lu`.
    static func snakeCase(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (i, c) in chars.enumerated() {
            if i > 0, c.isUppercase {
                let previous = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if previous.isLowercase || (nextIsLower && previous != "_") { out.append("_") }
            }
            out.append(c)
        }
        return out.lowercased()
    }
}

/// Which parameters a layer has, in Keras order, and attaching stored tensors to them.
enum ParameterRoles {
    /// The roles Keras stores for `layer`, in order (trainable first, then non-trainable): the schema's.
    static func expected(for layer: SourceLayer) -> [ParameterRole] {
        LayerSchema.roles(layer.type, layer.config).map(\.role)
    }

    static func attach(roles: [ParameterRole]?, tensors: [SourceTensor], to layer: SourceLayer, path: String) throws -> [SourceParameter] {
        let expected = expected(for: layer)
        let roles = roles ?? expected
        guard roles.count == tensors.count, Set(roles) == Set(expected) else {
            throw KerasFormatError.mismatch(path: path, reason: "layer \(layer.name) (\(layer.type.rawValue)) has \(tensors.count) weights but its config needs \(expected.count) (\(expected.map(\.rawValue).joined(separator: ", ")))")
        }
        return zip(roles, tensors).map { role, tensor in
            var tensor = tensor
            tensor.layout = role == .kernel ? (layer.type == .conv2d ? .hwio : .inOut) : .vector
            return SourceParameter(role: role, tensor: tensor)
        }.sorted { expected.firstIndex(of: $0.role)! < expected.firstIndex(of: $1.role)! }
    }
}

/// What a stored weight is, from its name in any Keras generation.
enum WeightNaming {
    /// `block1_conv1/kernel:0`, `vgg16/block1_conv1/kernel`, `block1_conv1_W_1:0`, `bn_running_std:0`.
    static func role(of weightName: String, layer: String) -> ParameterRole? {
        var leaf = Substring(weightName.split(separator: "/").last ?? "")
        if let colon = leaf.lastIndex(of: ":") { leaf = leaf[..<colon] }
        let modern = Dictionary(uniqueKeysWithValues: ParameterRole.allCases.map { ($0.kerasName, $0) })
        if let role = modern[String(leaf)] { return role }
        // Keras 1: `<layer>_W`, `<layer>_b`, optionally with a `_1` de-duplication suffix.
        var tag = leaf.hasPrefix(layer + "_") ? leaf.dropFirst(layer.count + 1) : leaf
        if let underscore = tag.lastIndex(of: "_"), Int(tag[tag.index(after: underscore)...]) != nil {
            tag = tag[..<underscore]
        }
        let keras1: [String: ParameterRole] = [
            "W": .kernel, "b": .bias, "gamma": .gamma, "beta": .beta,
            "running_mean": .movingMean, "running_std": .movingVariance,
        ]
        return keras1[String(tag)]
    }
}

/// Reads a dataset's metadata and points at its bytes.
enum TensorLoader {
    /// The tensor's source name is its HDF5 path without the leading `/`.
    static func load(_ dataset: HDF5Dataset) throws -> SourceTensor {
        let sourceName = String(dataset.path.drop { $0 == "/" })
        let shape = try dataset.shape()
        let dtype = try dataset.dtype()
        let (data, offset) = try dataset.data(dtype: dtype, shape: shape)
        return SourceTensor(sourceName: sourceName, dtype: dtype, shape: shape, layout: .unknown, data: data, fileOffset: offset)
    }
}
