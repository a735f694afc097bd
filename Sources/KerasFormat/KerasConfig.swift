import Foundation
import FileIO
import VGGCore

/// A Keras model architecture as `model.to_json()`, a full-model `.h5`'s `model_config` attribute or a
/// `.keras` archive's `config.json` records it: Keras 2.2-era (`Model`/`Sequential`, list configs,
/// `batch_input_shape`) through Keras 3 (`Functional`, `batch_shape`, `module`, dict-form nodes).
public struct KerasArchitecture: Sendable {
    /// One layer entry: its Keras class, its name and the parsed vggconv layer (whose `scopes` name the
    /// nested models around it).
    public struct Layer: Sendable {
        public var className: String
        public var name: String
        public var layer: SourceLayer
    }

    /// An entry of one model's layer list: a layer, or a model used as a layer (nested to any depth).
    public indirect enum Entry: Sendable {
        case layer(Layer)
        case model(name: String, className: String, KerasArchitecture)
    }

    public var modelName: String?
    /// True for `Sequential` models, whose summaries (and weight files) have no InputLayer row.
    public var isSequential: Bool
    /// This model's own entries, in order, nested models as one entry each.
    public var entries: [Entry]
    /// (H, W, C) or (C, H, W) as the config records it, without the batch axis.
    public var inputShape: [Int]?
    public var dataFormat: DataFormat

    /// Every layer, nested models opened in place (their layers carry the nesting in `scopes`).
    public var layers: [Layer] {
        entries.flatMap { entry -> [Layer] in
            switch entry {
            case .layer(let layer): return [layer]
            case .model(_, _, let inner): return inner.layers
            }
        }
    }

    /// The layers a summary lists and weights belong to, nested models opened: a Sequential model's
    /// InputLayer is not one of them.
    public var listedLayers: [Layer] {
        listedEntries.flatMap { entry -> [Layer] in
            switch entry {
            case .layer(let layer): return [layer]
            case .model(_, _, let inner): return inner.listedLayers
            }
        }
    }

    /// This model's entries without a Sequential model's InputLayer.
    public var listedEntries: [Entry] {
        guard isSequential else { return entries }
        return entries.filter { if case .layer(let layer) = $0 { return layer.layer.type != .input } else { return true } }
    }

    /// Model configs larger than this are refused before parsing.
    public static let maximumJSONBytes = 16 << 20

    /// The bytes of a config file, refused before reading when larger than `maximumJSONBytes`.
    public static func readJSON(path: String) throws -> Data {
        let file = try MappedFile(path: path, role: .config)
        guard file.count <= maximumJSONBytes else {
            throw KerasFormatError.badConfig(origin: path, reason: "\(file.count) bytes of JSON, more than the \(maximumJSONBytes) a Keras model config needs (VGG16's is 16 KB)")
        }
        return file.contents()
    }

    /// Parses the JSON text of a Keras model config.
    /// - Throws: `KerasFormatError` for malformed JSON and `VGGError.unsupportedLayer` for layers vggconv
    ///   cannot represent (naming the layer, its type and its position).
    public init(json: Data, origin: String) throws {
        guard json.count <= Self.maximumJSONBytes else {
            throw KerasFormatError.badConfig(origin: origin, reason: "\(json.count) bytes of JSON, more than the \(Self.maximumJSONBytes) a Keras model config needs (VGG16's is 16 KB)")
        }
        guard let root = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw KerasFormatError.badConfig(origin: origin, reason: "not a JSON object")
        }
        guard root["class_name"] is String else {
            if root["weight_map"] != nil {
                throw KerasFormatError.badConfig(origin: origin, reason: "this is the index of sharded Keras weights (save_weights with max_shard_size), not a model config; give the index itself as the model file and the model's to_json() output as its config")
            }
            throw KerasFormatError.badConfig(origin: origin, reason: "no class_name: not a Keras model config (expected model.to_json() output)")
        }
        var budget = LayerSchema.Limit.layers
        try self.init(model: root, origin: origin, scopes: [], frozen: false, budget: &budget)
        if let build = root["build_config"] as? [String: Any], inputShape == nil, let shape = build["input_shape"] as? [Any] {
            let dims = shape.dropFirst().compactMap { $0 as? Int }
            inputShape = dims.count == 3 ? dims : nil
        }
    }

    /// One model's config (`{"class_name": …, "config": …}`), its nested models parsed recursively.
    /// `budget` counts the layers left to accept over the whole tree.
    private init(model root: [String: Any], origin: String, scopes: [ModelScope], frozen: Bool, budget: inout Int) throws {
        let className = root["class_name"] as? String ?? "?"
        guard ModelScope.classNames.contains(className) else {
            throw KerasFormatError.badConfig(origin: origin, reason: "model class \(SafeText.quote(className)) is not Sequential, Functional or Model")
        }
        guard scopes.count <= ModelScope.maximumDepth else {
            throw KerasFormatError.badConfig(origin: origin, reason: "models nested more than \(ModelScope.maximumDepth) deep")
        }
        isSequential = className == "Sequential"
        let list: [[String: Any]]
        if let entries = root["config"] as? [[String: Any]] {
            list = entries  // Keras 2.1/2.2 Sequential
        } else if let config = root["config"] as? [String: Any], let entries = config["layers"] as? [[String: Any]] {
            list = entries
            modelName = config["name"] as? String
        } else {
            throw KerasFormatError.badConfig(origin: origin, reason: "config\(scopes.isEmpty ? "" : " of nested model \(SafeText.quote(scopes.last!.name))") has no layer list")
        }
        if !isSequential {
            try FunctionalChain.check(list, config: root["config"] as? [String: Any] ?? [:], model: modelName ?? scopes.last?.name ?? "model", origin: origin)
        }
        budget -= list.count
        guard budget >= 0 else {
            throw KerasFormatError.badConfig(origin: origin, reason: "more than the \(LayerSchema.Limit.layers) layers vggconv accepts")
        }
        var entries: [Entry] = []
        var inputShape: [Int]?
        var dataFormat = DataFormat.channelsLast
        for (position, entry) in list.enumerated() {
            let layerClass = entry["class_name"] as? String ?? "?"
            let config = entry["config"] as? [String: Any] ?? [:]
            let name = config["name"] as? String ?? entry["name"] as? String ?? "layer_\(position)"
            let layerFrozen = frozen || config["trainable"] as? Bool == false
            if ModelScope.classNames.contains(layerClass) {
                let scope = ModelScope(name: name, className: layerClass)
                let inner = try KerasArchitecture(model: entry, origin: origin, scopes: scopes + [scope], frozen: layerFrozen, budget: &budget)
                if inputShape == nil { inputShape = inner.inputShape }
                if inner.dataFormat == .channelsFirst { dataFormat = .channelsFirst }
                entries.append(.model(name: name, className: layerClass, inner))
                continue
            }
            for key in ["batch_shape", "batch_input_shape"] {
                if inputShape == nil, let shape = config[key] as? [Any] { inputShape = shape.dropFirst().compactMap { $0 as? Int } }
            }
            if config["data_format"] as? String == "channels_first" { dataFormat = .channelsFirst }
            var parsed = try KerasLayerParser.parse(className: layerClass, name: name, config: config, position: position)
            parsed.scopes = scopes
            parsed.trainable = !layerFrozen
            entries.append(.layer(Layer(className: layerClass, name: name, layer: parsed)))
        }
        if let shape = inputShape, shape.count != 3 { inputShape = nil }
        self.entries = entries
        self.inputShape = inputShape
        self.dataFormat = dataFormat
    }
}

/// Maps one Keras layer config onto a vggconv layer, refusing what the engine cannot run exactly.
enum KerasLayerParser {
    static let activations = Set(Activation.allCases.map(\.rawValue))

    static func parse(className: String, name: String, config: [String: Any], position: Int) throws -> SourceLayer {
        func unsupported(_ hint: String) -> VGGError {
            .unsupportedLayer(name: name, type: className, position: position, hint: hint)
        }
        func pair(_ key: String) -> [Int]? {
            if let list = config[key] as? [Int] { return list.count == 1 ? [list[0], list[0]] : list }
            if let value = config[key] as? Int { return [value, value] }
            return nil
        }
        func padding() throws -> Padding {
            guard let text = config["padding"] as? String ?? Optional("valid"), let value = Padding(rawValue: text) else {
                throw unsupported("padding '\(config["padding"] ?? "")' is not same or valid")
            }
            return value
        }
        func activation() throws -> String {
            let value: String
            if let text = config["activation"] as? String {
                value = text
            } else if let object = config["activation"] as? [String: Any] {
                value = (object["config"] as? [String: Any])?["name"] as? String ?? object["class_name"] as? String ?? "?"
            } else {
                value = "linear"
            }
            guard activations.contains(value) else {
                throw unsupported("activation '\(value)' is not one of \(activations.sorted().joined(separator: ", "))")
            }
            return value
        }
        switch className {
        case "InputLayer":
            return SourceLayer(name: name, type: .input, config: LayerConfig())
        case "Conv2D", "Convolution2D":
            if let dilation = pair("dilation_rate"), dilation != [1, 1] { throw unsupported("dilated convolutions are not supported") }
            if let groups = config["groups"] as? Int, groups != 1 { throw unsupported("grouped convolutions are not supported") }
            guard let filters = config["filters"] as? Int, let kernel = pair("kernel_size") else {
                throw unsupported("config lacks filters or kernel_size")
            }
            return SourceLayer(name: name, type: .conv2d, config: LayerConfig(
                filters: filters, kernelSize: kernel, strides: pair("strides") ?? [1, 1], padding: try padding(),
                activation: try activation(), useBias: config["use_bias"] as? Bool ?? true))
        case "MaxPooling2D", "MaxPool2D":
            let pool = pair("pool_size") ?? [2, 2]
            return SourceLayer(name: name, type: .maxPooling2d, config: LayerConfig(
                strides: pair("strides") ?? pool, padding: try padding(), poolSize: pool))
        case "BatchNormalization":
            let axis = (config["axis"] as? [Int])?.first ?? config["axis"] as? Int ?? -1
            guard [-1, 1, 3].contains(axis) else { throw unsupported("normalizes axis \(axis), not the channel axis") }
            return SourceLayer(name: name, type: .batchNormalization, config: LayerConfig(
                epsilon: config["epsilon"] as? Double ?? LayerSchema.Default.batchNormEpsilon, center: config["center"] as? Bool ?? true,
                scale: config["scale"] as? Bool ?? true))
        case "Activation":
            return SourceLayer(name: name, type: .activation, config: LayerConfig(activation: try activation()))
        case "ReLU":
            let slope = config["negative_slope"] as? Double ?? 0, threshold = config["threshold"] as? Double ?? 0
            guard config["max_value"] == nil || config["max_value"] is NSNull, slope == 0, threshold == 0 else {
                throw unsupported("only a plain ReLU (no max_value, negative_slope or threshold) is supported")
            }
            return SourceLayer(name: name, type: .relu, config: LayerConfig(activation: "relu"))
        case "Softmax":
            return SourceLayer(name: name, type: .softmax, config: LayerConfig(activation: "softmax"))
        case "Dropout":
            return SourceLayer(name: name, type: .dropout, config: LayerConfig(rate: config["rate"] as? Double ?? 0))
        case "Flatten":
            return SourceLayer(name: name, type: .flatten, config: LayerConfig())
        case "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D":
            // data_format only says where the channels are, which the model's data format already records.
            let type: LayerType = className.contains("Max") ? .globalMaxPooling2d : .globalAveragePooling2d
            return SourceLayer(name: name, type: type, config: LayerConfig(keepDims: config["keepdims"] as? Bool ?? false))
        case "Dense":
            guard let units = config["units"] as? Int else { throw unsupported("config lacks units") }
            return SourceLayer(name: name, type: .dense, config: LayerConfig(
                activation: try activation(), useBias: config["use_bias"] as? Bool ?? true, units: units))
        default:
            throw unsupported("vggconv supports Conv2D, MaxPooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, BatchNormalization, Activation, ReLU, Dropout, Flatten, Dense and Softmax")
        }
    }
}

/// Failures specific to Keras files.
public enum KerasFormatError: Error, CustomStringConvertible, Sendable, Codable, Remediable {
    case badConfig(origin: String, reason: String)
    case notKeras(path: String, reason: String)
    /// A weights file that does not record its architecture; `architectureNameWorks`: naming the
    /// keras.applications VGG would do too (a Keras 3 `.weights.h5`).
    case needsConfig(path: String, reason: String, architectureNameWorks: Bool = false)
    case mismatch(path: String, reason: String)
    /// An error the isolated reader (CrashIsolation) reported, with its text as it was.
    case reported(String)

    public var description: String {
        switch self {
        case .badConfig(let origin, let reason): return "\(origin): unreadable Keras model config: \(reason)"
        case .notKeras(let path, let reason): return "\(path): not a Keras weight file: \(reason)"
        case .needsConfig(let path, let reason, _): return "\(path): \(reason); give the model's architecture JSON (the output of model.to_json(), or the config.json inside a .keras archive)"
        case .mismatch(let path, let reason): return "\(path): weights and architecture disagree: \(reason)"
        case .reported(let message): return message
        }
    }

    /// A weights file without its architecture needs the config (a Keras 3 `.weights.h5` of a
    /// keras.applications VGG can name it instead).
    public var remedy: Remedy? {
        guard case .needsConfig(_, _, let named) = self else { return nil }
        return named ? .giveKerasConfigOrArchitecture : .giveKerasConfig
    }
}
