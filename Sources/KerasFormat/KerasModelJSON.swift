import Foundation
import FileIO
import VGGCore

/// The Keras model config of a `KerasExport`, in the two dialects loaders read: tf-keras's (a full-model
/// `.h5`'s `model_config`, read by `tf_keras.models.load_model` and Keras 3's legacy `.h5` loader) and
/// Keras 3's (a `.keras` archive's `config.json`, with `module` keys and dict-form nodes). Only the
/// fields a VGG layer needs are written; both Kerases fill every other field with its default.
public enum KerasModelJSON {
    public enum Dialect: Sendable {
        case tfKeras, keras3
    }

    /// The version written into files Keras reads: tf-keras's `keras_version` must not start with "1"
    /// (that triggers Keras 1 weight conversions on load).
    public static func kerasVersion(_ dialect: Dialect) -> String { dialect == .tfKeras ? "2.15.0" : "3.5.0" }

    /// The config as JSON text (keys sorted, so the same model always gives the same bytes).
    public static func text(_ export: KerasExport, dialect: Dialect) -> String {
        let data = try? JSONSerialization.data(withJSONObject: model(export, dialect: dialect), options: [.sortedKeys])
        return data.map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func model(_ export: KerasExport, dialect: Dialect) -> [String: Any] {
        var root = modelRoot(name: export.modelName, functional: export.isFunctional, inputName: export.inputName,
                             inputShape: export.inputShape, nodes: export.nodes, export: export, dialect: dialect)
        switch dialect {
        case .tfKeras:
            root["keras_version"] = kerasVersion(dialect)
            root["backend"] = "tensorflow"
        case .keras3:
            root["build_config"] = ["input_shape": batched(export.inputShape, anySpatialSize: export.anySpatialSize)]
        }
        return root
    }

    /// One model's `{"class_name", "config"}` (Keras 3: with `module`), nested models as entries of
    /// their own, each with its InputLayer.
    private static func modelRoot(name: String, functional: Bool, inputName: String, inputShape: [Int], nodes: [KerasExport.Node],
                                  export: KerasExport, dialect: Dialect, nested: Bool = false) -> [String: Any] {
        var entries: [[String: Any]] = [inputEntry(name: inputName, shape: inputShape, functional: functional, export: export, dialect: dialect)]
        // tf-keras numbers a nested model's call on the outer graph as its node 1 (node 0 is the model's own
        // construction): a layer fed from node 0 would read the inner graph, and tf-keras's loader hangs.
        var previous = (name: inputName, shape: inputShape, node: 0)
        for node in nodes {
            var entry: [String: Any]
            let output: (name: String, shape: [Int], node: Int)
            switch node {
            case .layer(let layer):
                entry = layerEntry(className: layer.className, config: layerConfig(layer), dialect: dialect)
                output = (layer.name, layer.outputShape, 0)
            case .model(let scope, let innerInput, let innerShape, let children):
                entry = modelRoot(name: scope.name, functional: scope.className != "Sequential", inputName: innerInput,
                                  inputShape: innerShape, nodes: children, export: export, dialect: dialect, nested: true)
                output = (scope.name, lastOutputShape(children) ?? innerShape, dialect == .tfKeras ? 1 : 0)
            }
            if functional {
                entry["name"] = output.name
                entry["inbound_nodes"] = inboundNodes(from: previous.name, node: previous.node,
                                                      shape: batched(previous.shape, anySpatialSize: export.anySpatialSize),
                                                      dialect: dialect)
            }
            entries.append(entry)
            previous = output
        }
        var config: [String: Any] = ["name": name, "trainable": true, "layers": entries]
        if functional {
            // Keras 3 writes one input or output as a bare [name, 0, 0]: a list of them makes a nested model
            // return a list, which breaks the layer after it (Keras 3 cannot load tf-keras's own nested
            // .h5 files for that reason). tf-keras reads both forms; it writes the list at the top level.
            let (input, output): ([Any], [Any]) = ([inputName, 0, 0], [previous.name, previous.node, 0])
            let bare = dialect == .keras3 || nested
            config["input_layers"] = bare ? input : [input]
            config["output_layers"] = bare ? output : [output]
        }
        var root: [String: Any] = ["class_name": functional ? "Functional" : "Sequential", "config": config]
        if dialect == .keras3 {
            root["module"] = functional ? "keras.src.models.functional" : "keras"
            root["registered_name"] = functional ? "Functional" : NSNull()
        }
        return root
    }

    private static func lastOutputShape(_ nodes: [KerasExport.Node]) -> [Int]? {
        switch nodes.last {
        case .layer(let layer): return layer.outputShape
        case .model(_, _, let shape, let children): return lastOutputShape(children) ?? shape
        case nil: return nil
        }
    }

    /// A Keras shape with its batch axis; spatial sides are `None` too for a model of any input size.
    private static func batched(_ shape: [Int], anySpatialSize: Bool = false) -> [Any] {
        guard anySpatialSize, shape.count == 3 else { return [NSNull()] + shape }
        return [NSNull(), NSNull(), NSNull(), shape[2]]
    }

    private static func layerEntry(className: String, config: [String: Any], dialect: Dialect) -> [String: Any] {
        var entry: [String: Any] = ["class_name": className, "config": config]
        if dialect == .keras3 {
            entry["module"] = "keras.layers"
            entry["registered_name"] = NSNull()
        }
        return entry
    }

    private static func inputEntry(name: String, shape: [Int], functional: Bool, export: KerasExport, dialect: Dialect) -> [String: Any] {
        var config: [String: Any] = ["name": name, "dtype": "float32", "sparse": false]
        config[dialect == .tfKeras ? "batch_input_shape" : "batch_shape"] = batched(shape, anySpatialSize: export.anySpatialSize)
        var entry = layerEntry(className: LayerType.input.rawValue, config: config, dialect: dialect)
        if functional {
            entry["name"] = name
            entry["inbound_nodes"] = [Any]()
        }
        return entry
    }

    /// The call of a layer on the previous layer's output: tf-keras's nested lists, Keras 3's dicts.
    private static func inboundNodes(from previous: String, node: Int, shape: [Any], dialect: Dialect) -> [Any] {
        switch dialect {
        case .tfKeras:
            return [[[previous, node, 0, [String: Any]()]]]
        case .keras3:
            let tensor: [String: Any] = ["class_name": "__keras_tensor__",
                                         "config": ["shape": shape, "dtype": "float32", "keras_history": [previous, 0, 0]]]
            return [["args": [tensor], "kwargs": [String: Any]()]]
        }
    }

    /// A layer's config fields: the same in both dialects.
    static func layerConfig(_ layer: KerasExport.Layer) -> [String: Any] {
        let c = layer.config
        var config: [String: Any] = ["name": layer.name, "trainable": layer.trainable, "dtype": "float32"]
        switch layer.type {
        case .conv2d:
            config["filters"] = c.filters ?? 0
            config["kernel_size"] = c.kernelSize ?? []
            config["strides"] = c.strides ?? LayerSchema.Default.strides
            config["padding"] = (c.padding ?? LayerSchema.Default.padding).rawValue
            config["data_format"] = DataFormat.channelsLast.rawValue
            config["dilation_rate"] = [1, 1]
            config["activation"] = c.activation ?? "linear"
            config["use_bias"] = c.useBias ?? true
        case .maxPooling2d:
            let pool = c.poolSize ?? LayerSchema.Default.poolSize
            config["pool_size"] = pool
            config["strides"] = c.strides ?? pool
            config["padding"] = (c.padding ?? LayerSchema.Default.padding).rawValue
            config["data_format"] = DataFormat.channelsLast.rawValue
        case .batchNormalization:
            config["axis"] = -1
            config["epsilon"] = c.epsilon ?? LayerSchema.Default.batchNormEpsilon
            config["center"] = c.center ?? true
            config["scale"] = c.scale ?? true
            config["momentum"] = 0.99
        case .activation:
            config["activation"] = c.activation ?? "linear"
        case .softmax:
            config["axis"] = -1
        case .dropout:
            config["rate"] = c.rate ?? 0
        case .flatten:
            config["data_format"] = DataFormat.channelsLast.rawValue
        case .dense:
            config["units"] = c.units ?? 0
            config["activation"] = c.activation ?? "linear"
            config["use_bias"] = c.useBias ?? true
        case .globalAveragePooling2d, .globalMaxPooling2d:
            config["data_format"] = DataFormat.channelsLast.rawValue
            config["keepdims"] = c.keepDims ?? false
        case .relu, .input, .adaptiveAvgPool2d:
            break
        }
        return config
    }
}
