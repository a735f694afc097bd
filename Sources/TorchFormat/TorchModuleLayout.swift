import FileIO
import VGGCore

/// How a canonical architecture becomes PyTorch modules: torchvision's `features.N` / `classifier.N`
/// keys when the model is exactly a torchvision VGG (11/13/16/19, with or without BatchNorm, any class
/// count), otherwise an `nn.Sequential` whose indices name the keys, with the Python that builds it.
/// The inverse of `TorchArchitecture`, which reads those keys back.
public struct TorchModuleLayout: Sendable {
    /// One state_dict entry, in the order `model.state_dict()` lists them.
    public enum Entry: Sendable {
        /// A tensor of the plan, by canonical name.
        case tensor(key: String, canonical: String)
        /// BatchNorm's `num_batches_tracked` (int64 0): training state PyTorch expects beside the statistics.
        case counter(key: String)
        /// A float32 constant PyTorch's module needs but the source does not store: the weight (ones) or
        /// bias (zeros) of a BatchNorm built with `scale=False` or `center=False` in Keras.
        case constant(key: String, values: [Float])

        public var key: String {
            switch self {
            case .tensor(let key, _), .counter(let key), .constant(let key, _): return key
            }
        }
    }

    public var entries: [Entry]
    /// `vgg16`, `vgg16_bn`, … when torchvision's constructor builds a module these keys load into.
    public var torchvisionName: String?
    /// The `num_classes` to pass torchvision's constructor.
    public var torchvisionClasses: Int?
    /// The Python source of a module the keys load into (for non-torchvision layouts).
    public var moduleSource: String?
    /// Facts the user must know (softmax dropped, BatchNorm epsilon), printed and recorded.
    public var notes: [String]

    /// The layout for `architecture`.
    /// - Throws: `VGGError.unsupportedLayer` for a layer PyTorch's standard modules cannot reproduce
    ///   exactly (a strided 'same' convolution, a 'same' pool that pads).
    public static func of(_ architecture: NativeArchitecture) throws -> TorchModuleLayout {
        if let torchvision = torchvisionLayout(architecture) { return torchvision }
        return try sequentialLayout(architecture)
    }

    // MARK: torchvision

    private static func torchvisionLayout(_ architecture: NativeArchitecture) -> TorchModuleLayout? {
        let layers = architecture.layers.filter { $0.type != .input && $0.type != .dropout }
        guard let flatten = layers.firstIndex(where: { $0.type == .flatten }) else { return nil }
        var configuration: [Int] = [], entries: [Entry] = [], notes: [String] = []
        var index = 0, normalised = false, position = 0
        let features = Array(layers[..<flatten])
        while position < features.count {
            let layer = features[position]
            switch layer.type {
            case .conv2d:
                guard layer.config.kernelSize == [3, 3], (layer.config.strides ?? [1, 1]) == [1, 1], layer.config.padding == .same
                else { return nil }
                entries += tensorEntries(layer, key: "features.\(index)")
                configuration.append(layer.config.filters ?? 0)
                index += 1
                var activation = layer.config.activation ?? "linear"
                if position + 1 < features.count, features[position + 1].type == .batchNormalization, activation == "linear" {
                    position += 1
                    let norm = features[position]
                    entries += tensorEntries(norm, key: "features.\(index)") + [.counter(key: "features.\(index).num_batches_tracked")]
                    notes += epsilonNote(norm)
                    normalised = true
                    index += 1
                }
                if activation == "linear", position + 1 < features.count, isReLU(features[position + 1]) {
                    position += 1
                    activation = "relu"
                }
                guard activation == "relu" else { return nil }
                index += 1  // the ReLU module
            case .maxPooling2d:
                guard let window = try? LayerSchema.poolingWindow(layer.config),
                      [window.height, window.width, window.strideY, window.strideX] == [2, 2, 2, 2] else { return nil }
                configuration.append(0)
                index += 1
            case .adaptiveAvgPool2d:
                break
            default:
                return nil
            }
            position += 1
        }
        guard let name = VGGFamily.allCases.first(where: { $0.torchvisionConfiguration == configuration })?.rawValue else { return nil }
        // torchvision's head: AdaptiveAvgPool2d(7) then Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096),
        // ReLU, Dropout, Linear(4096, K) as classifier.0 / .3 / .6.
        let head = layers[(flatten + 1)...].filter { $0.type != .activation && $0.type != .relu && $0.type != .softmax }
        guard head.count == 3, head.allSatisfy({ $0.type == .dense }),
              let flat = architecture.layers.first(where: { $0.type == .flatten })?.outputShape, flat == [512 * 7 * 7],
              head[0].config.units == 4096, head[1].config.units == 4096,
              head[0...1].allSatisfy({ ($0.config.activation ?? "linear") == "relu" || isFollowedByReLU($0, in: layers) })
        else { return nil }
        for (slot, dense) in zip([0, 3, 6], head) { entries += tensorEntries(dense, key: "classifier.\(slot)") }
        if head[2].config.activation == "softmax" || layers.last?.type == .softmax {
            notes.append("torchvision's VGG ends without softmax: the exported model outputs logits where the source applied softmax")
        }
        return TorchModuleLayout(entries: entries, torchvisionName: name + (normalised ? "_bn" : ""),
                                 torchvisionClasses: head[2].config.units, moduleSource: nil, notes: notes)
    }

    private static func isReLU(_ layer: NativeLayer) -> Bool {
        layer.type == .relu || (layer.type == .activation && layer.config.activation == "relu")
    }

    private static func isFollowedByReLU(_ layer: NativeLayer, in layers: [NativeLayer]) -> Bool {
        guard let index = layers.firstIndex(where: { $0.name == layer.name }), index + 1 < layers.count else { return false }
        return isReLU(layers[index + 1])
    }

    private static func tensorEntries(_ layer: NativeLayer, key: String) -> [Entry] {
        layer.parameters.map { name in
            let suffix = name.split(separator: ".").last.map(String.init) ?? name
            return .tensor(key: "\(key).\(suffix)", canonical: name)
        }
    }

    private static func epsilonNote(_ layer: NativeLayer) -> [String] {
        let epsilon = layer.config.epsilon ?? LayerSchema.Default.batchNormEpsilon
        let torchDefault = SourceFramework.pytorch.batchNormEpsilon
        guard abs(epsilon - torchDefault) > 1e-12 else { return [] }
        return ["BatchNorm \(layer.name) has epsilon \(epsilon); PyTorch's BatchNorm defaults to \(torchDefault) and a state_dict cannot store it: construct it with eps=\(epsilon)"]
    }

    // MARK: nn.Sequential

    private static func sequentialLayout(_ architecture: NativeArchitecture) throws -> TorchModuleLayout {
        var modules: [String] = [], entries: [Entry] = [], notes: [String] = []
        var shape = architecture.inputShape
        func add(_ code: String) { modules.append(code) }
        func activation(_ name: String?, layer: NativeLayer, position: Int) throws {
            switch name ?? "linear" {
            case "linear": break
            case "relu": add("nn.ReLU()")
            case "sigmoid": add("nn.Sigmoid()")
            case "tanh": add("nn.Tanh()")
            case "softmax": add("nn.Softmax(dim=1)")
            case let other:
                throw VGGError.unsupportedLayer(name: layer.name, type: layer.type.rawValue, position: position, hint: "activation \(other) has no PyTorch module here")
            }
        }
        for (position, layer) in architecture.layers.enumerated() {
            let config = layer.config
            switch layer.type {
            case .input: break
            case .conv2d:
                let window = try LayerSchema.convolutionWindow(config)
                let padding: String
                if window.padding == .valid {
                    padding = "0"
                } else if window.strideY == 1, window.strideX == 1 {
                    padding = window.height % 2 == 1 && window.width % 2 == 1 ? "(\(window.height / 2), \(window.width / 2))" : "'same'"
                } else {
                    throw VGGError.unsupportedLayer(name: layer.name, type: layer.type.rawValue, position: position,
                                                    hint: "a strided 'same' convolution pads unevenly in Keras, which nn.Conv2d cannot reproduce")
                }
                entries += tensorEntries(layer, key: String(modules.count))
                add("nn.Conv2d(\(shape[0]), \(config.filters ?? 0), kernel_size=(\(window.height), \(window.width)), stride=(\(window.strideY), \(window.strideX)), padding=\(padding), bias=\(config.useBias == false ? "False" : "True"))")
                try activation(config.activation, layer: layer, position: position)
            case .batchNormalization:
                // PyTorch's BatchNorm has a weight and a bias or neither: one that Keras left out (scale or
                // center False) is written as the constant it stands for, ones or zeros.
                let key = String(modules.count), width = shape[0]
                let affine = config.scale != false || config.center != false
                var stored = tensorEntries(layer, key: key)
                if affine, config.scale == false { stored.insert(.constant(key: ParameterRole.gamma.tensorName(ofLayer: key), values: [Float](repeating: 1, count: width)), at: 0) }
                if affine, config.center == false { stored.insert(.constant(key: ParameterRole.beta.tensorName(ofLayer: key), values: [Float](repeating: 0, count: width)), at: 1) }
                entries += stored + [.counter(key: "\(key).num_batches_tracked")]
                let epsilon = config.epsilon ?? LayerSchema.Default.batchNormEpsilon
                add("nn.BatchNorm\(shape.count == 3 ? 2 : 1)d(\(width), eps=\(epsilon)\(affine ? "" : ", affine=False"))")
                notes += epsilonNote(layer)
            case .activation, .relu, .softmax:
                try activation(layer.type == .relu ? "relu" : config.activation, layer: layer, position: position)
            case .maxPooling2d:
                let window = try LayerSchema.poolingWindow(config)
                let valid = [LayerSchema.outputSide(shape[1], window.height, window.strideY, .valid),
                             LayerSchema.outputSide(shape[2], window.width, window.strideX, .valid)]
                guard Array(layer.outputShape.dropFirst()) == valid else {
                    throw VGGError.unsupportedLayer(name: layer.name, type: layer.type.rawValue, position: position,
                                                    hint: "this 'same' pooling pads the input, which nn.MaxPool2d cannot reproduce")
                }
                add("nn.MaxPool2d(kernel_size=(\(window.height), \(window.width)), stride=(\(window.strideY), \(window.strideX)))")
            case .dropout:
                add("nn.Dropout(p=\(config.rate ?? 0.5))")
            case .flatten:
                add("nn.Flatten()")
            case .dense:
                entries += tensorEntries(layer, key: String(modules.count))
                add("nn.Linear(\(ShapeMath.elementCount(shape) ?? 0), \(config.units ?? 0), bias=\(config.useBias == false ? "False" : "True"))")
                try activation(config.activation, layer: layer, position: position)
            case .adaptiveAvgPool2d:
                add("nn.AdaptiveAvgPool2d((\(layer.outputShape[1]), \(layer.outputShape[2])))")
            case .globalAveragePooling2d, .globalMaxPooling2d:
                add(layer.type == .globalMaxPooling2d ? "nn.AdaptiveMaxPool2d(1)" : "nn.AdaptiveAvgPool2d(1)")
                if layer.config.keepDims != true { add("nn.Flatten()") }
            }
            shape = layer.outputShape
        }
        let source = """
            # Written by vggconv: the module whose state_dict the weights file next to this one holds.
            # Load: model = build(); model.load_state_dict(torch.load(PATH, weights_only=True)); model.eval()
            # Input: float32 (N, \(architecture.inputShape.map(String.init).joined(separator: ", "))), channels first.
            import torch
            from torch import nn


            def build():
                return nn.Sequential(
            \(modules.map { "        \($0)," }.joined(separator: "\n"))
                )

            """
        return TorchModuleLayout(entries: entries, torchvisionName: nil, torchvisionClasses: nil, moduleSource: source, notes: notes)
    }
}

extension TorchModuleLayout {
    /// One state_dict record a writer stores: a planned tensor (streamed), or bytes made here.
    package struct Record {
        package let key: String
        package let dtype: DType
        package let shape: [Int]
        package let source: PlannedTensor?
        /// The bytes of a record made here (counter or constant); empty for planned tensors.
        package let bytes: [UInt8]
    }

    /// The layout's entries resolved against `plan`, in state_dict order.
    /// - Throws: `VGGError.tensorNotFound` when the plan lacks a tensor the layout names.
    package func records(_ plan: ConversionPlan) throws -> [Record] {
        let tensors = Dictionary(plan.tensors.map { ($0.name, $0) }) { first, _ in first }
        return try entries.map { entry in
            switch entry {
            case .tensor(let key, let canonical):
                guard let tensor = tensors[canonical] else { throw VGGError.tensorNotFound(name: canonical, path: plan.sourcePath) }
                return Record(key: key, dtype: tensor.dtype, shape: tensor.shape, source: tensor, bytes: [])
            case .counter(let key):
                return Record(key: key, dtype: .int64, shape: [], source: nil, bytes: [UInt8](repeating: 0, count: 8))
            case .constant(let key, let values):
                return Record(key: key, dtype: .float32, shape: [values.count], source: nil,
                              bytes: values.withUnsafeBytes { Array($0) })
            }
        }
    }
}
