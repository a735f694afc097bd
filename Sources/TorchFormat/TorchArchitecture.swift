import FileIO
import VGGCore

/// Recognises a VGG-style network from state_dict keys and shapes alone: torchvision's
/// `features.N` / `classifier.N` (VGG11–19, with or without BatchNorm, any head) and plain
/// `nn.Sequential` stacks (`N.weight`). Parameter-free modules (ReLU, MaxPool, Dropout, Flatten) leave
/// no keys, so they are read from the gaps in module indices:
/// - conv → next conv: 1 module between = ReLU; 2 = ReLU + MaxPool; k > 2 = ReLU, MaxPool, Dropout×(k−2);
/// - a BatchNorm directly after a conv or linear; ReLU after a BatchNorm is its own layer;
/// - conv → linear in one Sequential: ReLU, [MaxPool], Dropout…, Flatten;
/// - linear → linear: 1 = ReLU, k > 1 = ReLU + Dropout×(k−1);
/// - torchvision's `features` always ends in ReLU + MaxPool, then `avgpool` (AdaptiveAvgPool2d) + flatten.
/// What cannot be read (3×3 padding 1 convs, 2×2 pools, BatchNorm epsilon 1e-5) is assumed as
/// torchvision builds it and recorded in the notes.
/// A state_dict entry as the architecture reader needs it: its keys, its shape, and how to get its bytes
/// (from a pickle's storages, or in place from a safetensors file).
package struct KeyedTensor {
    /// The module key, prefixes removed (`features.0.weight`).
    package var key: String
    /// The full key path in the file (`state_dict.module.features.0.weight`).
    package let fullPath: String
    package let shape: [Int]
    package let load: () throws -> SourceTensor

    package init(key: String, fullPath: String, shape: [Int], load: @escaping () throws -> SourceTensor) {
        (self.key, self.fullPath, self.shape, self.load) = (key, fullPath, shape, load)
    }
}

package enum TorchArchitecture {
    struct Module {
        /// The Sequential the module sits in (`features`, `0`, `backbone`), or the module's own path
        /// when it is a named attribute (`head`, `fc`), which has no index.
        let container: String
        let index: Int?
        /// Parameter name → the tensor and its full key path in the file.
        var tensors: [String: (key: String, tensor: KeyedTensor)]
        var path: String { index.map { container.isEmpty ? String($0) : "\(container).\($0)" } ?? container }

        var kind: LayerType? {
            if tensors["running_mean"] != nil || tensors["running_var"] != nil { return .batchNormalization }
            switch tensors["weight"]?.tensor.shape.count {
            case 4: return .conv2d
            case 2: return .dense
            default: return nil
            }
        }
    }

    /// Module indices must fit in 32 bits (VGG19_bn's `features` ends at 52).
    static let maximumModuleIndex = Int(Int32.max)
    /// Parameter-free modules that may sit between two weighted ones (ReLU, MaxPool, Dropout…); a larger
    /// gap would mean thousands of assumed Dropout layers, which no VGG has.
    static let maximumGap = 16

    static let parameterNames: Set<String> = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]

    /// Groups keys into modules, in order of appearance.
    static func modules(_ entries: [KeyedTensor], path: String) throws -> [Module] {
        var modules: [Module] = []
        for entry in entries {
            let (key, tensor) = (entry.key, entry)
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count >= 2, parameterNames.contains(parts.last!), parts.dropLast().allSatisfy({ !$0.isEmpty }) else {
                throw TorchFormatError.moduleLayout(path: path, problem: .notAParameter(key: key))
            }
            // `features.3.weight`: module 3 of the Sequential `features`; `head.weight`: the named module `head`.
            let index = Int(parts[parts.count - 2])
            if let index, !(0...maximumModuleIndex).contains(index) {
                throw TorchFormatError.moduleLayout(path: path, problem: .indexOutOfRange(key: key))
            }
            let container = parts.dropLast(index == nil ? 1 : 2).joined(separator: ".")
            if let i = modules.lastIndex(where: { $0.container == container && $0.index == index }) {
                modules[i].tensors[parts.last!] = (entry.fullPath, tensor)
            } else {
                modules.append(Module(container: container, index: index, tensors: [parts.last!: (entry.fullPath, tensor)]))
            }
        }
        return modules
    }

    /// The layers, a torchvision model name when the structure is one (`vgg16_bn`), notes, and the
    /// assumptions made. `pool` is the global pooling a head that takes the channel count implies (nil:
    /// average, assumed).
    package static func layers(_ tensors: [KeyedTensor], path: String, pool globalPoolChoice: LayerType? = nil) throws
        -> (layers: [SourceLayer], name: String?, notes: [String], assumptions: [Assumption]) {
        let modules = try modules(tensors, path: path)
        var layers: [SourceLayer] = []
        var notes: [String] = []
        var assumptions: [Assumption] = []
        var flat = false
        var droppedCounters = 0
        let torchvision = Set(modules.map(\.container)) == ["features", "classifier"]

        func add(_ type: LayerType, _ source: String, _ config: LayerConfig = LayerConfig()) {
            layers.append(SourceLayer(name: source, type: type, config: config))
        }
        func pool(_ source: String) { add(.maxPooling2d, source, LayerConfig(strides: [2, 2], padding: .valid, poolSize: [2, 2])) }
        /// A head whose first Linear takes as many inputs as the last convolution has channels pools the map
        /// globally (AdaptiveAvgPool2d(1) + Flatten, or a mean in forward); the keys cannot say average or max.
        var channels: Int? { layers.last { $0.type == .conv2d }?.config.filters }
        func takesChannels(_ next: Module) -> Bool {
            next.kind == .dense && next.tensors["weight"]?.tensor.shape.last == channels
        }
        func globalPool(_ source: String) {
            add(globalPoolChoice ?? .globalAveragePooling2d, source)
            if globalPoolChoice == nil, !assumptions.contains(.globalPoolingByAverage) { assumptions.append(.globalPoolingByAverage) }
        }
        /// Closes the previous weighted layer: its activation and the parameter-free modules after it.
        func fillGap(after previous: Module, gap: Int?, before next: Module) {
            let previousKind = previous.kind!
            let nextKind = next.kind!
            let crossing = previous.container != next.container
            var remaining = gap ?? 0
            func inferredName(_ offset: Int) -> String { crossing ? "(not in state_dict)" : "\(previous.container.isEmpty ? "" : previous.container + ".")\((previous.index ?? 0) + offset)" }
            if nextKind == .batchNormalization && remaining == 0 && !crossing { return }  // conv/linear → BN
            var used = 1
            // The ReLU after a conv/linear is folded into it; after a BatchNorm it is its own layer.
            if remaining > 0 || crossing {
                if previousKind == .batchNormalization { add(.relu, inferredName(1), LayerConfig(activation: "relu")) }
                else { layers[layers.count - 1].config.activation = "relu" }
                remaining -= 1
                used += 1
            }
            let toFlat = !flat && nextKind == .dense
            let global = toFlat && !(torchvision && crossing) && takesChannels(next)
            if crossing && (previous.container == "features" || (toFlat && previousKind != .dense)) {
                // Every torchvision VGG's features (and a backbone made from one) ends in ReLU + MaxPool.
                pool("\(previous.container) (final MaxPool2d)")
                if torchvision && toFlat { add(.adaptiveAvgPool2d, "avgpool") }
            } else if !flat {
                let poolSlots = toFlat ? remaining - (global ? 2 : 1) : remaining
                if poolSlots >= 1 { pool(inferredName(used)); remaining -= 1; used += 1 }
            }
            let dropouts = max(0, toFlat && !crossing ? remaining - (global ? 2 : 1) : remaining)
            for _ in 0..<dropouts { add(.dropout, inferredName(used), LayerConfig(rate: 0.5)); used += 1 }
            if global {
                globalPool(crossing ? "(global pooling)" : inferredName(used))
                flat = true
            } else if toFlat {
                add(.flatten, crossing ? "(flatten)" : inferredName(used))
                flat = true
            }
        }

        for (position, module) in modules.enumerated() {
            guard let kind = module.kind else {
                let shapes = module.tensors.map { "\($0.key) \($0.value.tensor.shape)" }.sorted().joined(separator: ", ")
                throw VGGError.unsupportedLayer(name: module.path, type: "module with \(shapes)", position: position,
                                                hint: "only Conv2d, Linear and BatchNorm modules are supported")
            }
            if position > 0 {
                let previous = modules[position - 1]
                let gap = previous.container == module.container ? module.index.flatMap { i in previous.index.map { i - $0 - 1 } } : nil
                if let gap, gap < 0 {
                    throw TorchFormatError.moduleLayout(path: path, problem: .indicesNotIncreasing(container: module.container, at: module.path))
                }
                if let gap, gap > maximumGap {
                    throw TorchFormatError.moduleLayout(path: path, problem: .gapTooLong(modules: gap, after: previous.path, before: module.path, limit: maximumGap))
                }
                fillGap(after: previous, gap: gap, before: module)
            }
            if kind == .dense && !flat {  // a linear first, or right after a container change handled above
                add(.flatten, "(flatten)")
                flat = true
            }
            var layer = SourceLayer(name: module.path, type: kind, config: LayerConfig())
            func parameter(_ name: String, _ role: ParameterRole, _ layout: TensorLayout) throws {
                guard let entry = module.tensors[name] else { return }
                var tensor = try entry.tensor.load()
                tensor.layout = layout
                layer.parameters.append(SourceParameter(role: role, tensor: tensor))
            }
            let weight = module.tensors["weight"]?.tensor.shape ?? []
            switch kind {
            case .conv2d:
                layer.config = LayerConfig(filters: weight[0], kernelSize: [weight[2], weight[3]], strides: [1, 1],
                                           padding: weight[2] % 2 == 1 ? .same : .valid, activation: "linear",
                                           useBias: module.tensors["bias"] != nil)
                try parameter("weight", .kernel, .oihw)
                try parameter("bias", .bias, .vector)
            case .dense:
                layer.config = LayerConfig(activation: "linear", useBias: module.tensors["bias"] != nil, units: weight[0])
                try parameter("weight", .kernel, .outIn)
                try parameter("bias", .bias, .vector)
            default:
                layer.config = LayerConfig(epsilon: SourceFramework.pytorch.batchNormEpsilon, center: module.tensors["bias"] != nil, scale: module.tensors["weight"] != nil)
                try parameter("weight", .gamma, .vector)
                try parameter("bias", .beta, .vector)
                try parameter("running_mean", .movingMean, .vector)
                try parameter("running_var", .movingVariance, .vector)
                if module.tensors["num_batches_tracked"] != nil { droppedCounters += 1 }
            }
            layers.append(layer)
        }
        // A feature extractor without a head ends in ReLU + MaxPool in every torchvision VGG (and in
        // Keras's include_top=False); those modules have no keys, so they are added by convention.
        if let last = modules.last, !flat, last.kind == .conv2d || last.kind == .batchNormalization {
            if last.kind == .batchNormalization { add(.relu, "(not in state_dict)", LayerConfig(activation: "relu")) }
            else { layers[layers.count - 1].config.activation = "relu" }
            pool("(not in state_dict)")
            notes.append("the stack ends in a convolution: a final ReLU and MaxPool2d(2, 2) were assumed, as every torchvision VGG feature extractor ends")
        }
        notes.append("assumed as torchvision builds VGG: convolutions stride 1 with padding k//2, ReLU/MaxPool2d(2, 2)/Dropout/Flatten placed from gaps in module indices, BatchNorm epsilon \(SourceFramework.pytorch.batchNormEpsilon); a state_dict does not record these")
        if droppedCounters > 0 { notes.append("dropped \(droppedCounters) BatchNorm num_batches_tracked counters (training state, not weights)") }
        return (layers, torchvision ? torchvisionName(layers) : nil, notes, assumptions)
    }

    /// `vgg11` … `vgg19` with `_bn`, when the convolution count and classifier match torchvision's.
    static func torchvisionName(_ layers: [SourceLayer]) -> String? {
        let convs = layers.filter { $0.type == .conv2d }.count
        let denses = layers.filter { $0.type == .dense }.count
        let norm = layers.contains { $0.type == .batchNormalization }
        guard let family = VGGFamily.withConvolutions(convs), denses == 3 else { return nil }
        return family.rawValue + (norm ? "_bn" : "")
    }
}
