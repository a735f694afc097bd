import Foundation
import FileIO
import VGGCore
import CKernels

/// Runs a native (`.vggw`) model on the CPU in float32: activations in NCHW, the architecture from the
/// file's header, weights used in place from its memory map. BatchNormalization is folded into the
/// convolution or dense layer before it, and an activation layer into the layer it follows.
public final class InferenceEngine: @unchecked Sendable {
    /// The kernel variants this CPU runs: "avx512", "avx2" or "generic", chosen once from CPUID
    /// (`VGGCONV_SIMD=avx2` or `generic` picks a lower one).
    public static var kernels: String { String(cString: CKernels_simd_name()) }

    /// The input one sample takes, (C, H, W).
    public let inputShape: [Int]
    /// The output of one sample: (N) or (C, H, W).
    public let outputShape: [Int]
    private let steps: [Step]
    /// What each step runs, for per-layer timings: the layer names it covers and its algorithm.
    public let stepLabels: [String]
    /// For each step, the range of `layers` it covers (a convolution with the BatchNorm and activation
    /// fused into it covers three); identity layers (Dropout, Flatten) belong to no step.
    public let stepCoverage: [Range<Int>]
    /// The layers compiled, after any `Variant` change.
    public let layers: [NativeLayer]
    private let maxActivation: Int
    private let scratchCount: Int

    /// The network run differently, as another framework (or a faulty conversion) would run it: what
    /// `verify --logits` and `verify --explain` ask for.
    public struct Variant: Equatable, Sendable {
        /// Stop before a final softmax (a Softmax layer, or the last layer's softmax activation).
        public var logits = false
        /// Every BatchNormalization uses this epsilon instead of its own.
        public var batchNormEpsilon: Double?
        /// The first Dense after Flatten takes its stored input columns as H,W,C-ordered (`true`: as if the
        /// conversion had left Keras's row order) and reorders them to the C,H,W order the engine feeds it;
        /// `false` applies the opposite reordering.
        public var firstDenseColumnsFromHWC: Bool?

        /// Stop after this layer (canonical or source name): its output is the network's.
        public var stopAfter: String?

        /// A 2 × 2 / stride 2 max pool after a Winograd convolution runs in that convolution's output
        /// transform (the same values; the convolution's own map is never written). `false` keeps each
        /// layer's output, for comparing layer by layer.
        public var poolsInConvolution = true

        public init(logits: Bool = false, batchNormEpsilon: Double? = nil, firstDenseColumnsFromHWC: Bool? = nil, stopAfter: String? = nil,
                    poolsInConvolution: Bool = true) {
            self.stopAfter = stopAfter
            self.poolsInConvolution = poolsInConvolution
            self.logits = logits
            self.batchNormEpsilon = batchNormEpsilon
            self.firstDenseColumnsFromHWC = firstDenseColumnsFromHWC
        }

        /// The layers as this variant runs them.
        public func apply(to layers: [NativeLayer]) -> [NativeLayer] {
            var layers = layers
            if let stopAfter, let last = layers.firstIndex(where: { $0.name == stopAfter || $0.sourceName == stopAfter }) {
                layers = Array(layers[...last])
            }
            guard logits, let last = layers.lastIndex(where: { ![.dropout, .flatten].contains($0.type) }) else { return layers }
            if layers[last].type == .softmax || (layers[last].type == .activation && layers[last].config.activation == "softmax") {
                layers.remove(at: last)
            } else if layers[last].config.activation == "softmax" {
                layers[last].config.activation = "linear"
            }
            return layers
        }
    }

    private enum Step {
        case convolution(Convolution, input: [Int], output: [Int])
        /// `pooled`: the 2 × 2 / stride 2 max pool that follows runs in the output transform; `output` is its.
        case winograd(WinogradConvolution, input: [Int], output: [Int], pooled: Bool)
        case direct(DirectConvolution, input: [Int], output: [Int])
        case maxPool(MaxPool, input: [Int], output: [Int])
        case averagePool(input: [Int], output: [Int])
        /// Each channel's maximum over the whole map.
        case globalMaxPool(input: [Int])
        case dense(Dense)
        case affine(ChannelAffine, channels: Int, perChannel: Int)
        case activation(Elementwise, count: Int)
        case softmax(width: Int)

        var algorithm: String {
            switch self {
            case .convolution: "im2col + GEMM"
            case .winograd(_, _, _, let pooled): pooled ? "Winograd F(4x4,3x3) + max pool" : "Winograd F(4x4,3x3)"
            case .direct: "direct 3x3"
            case .maxPool: "max pool"
            case .averagePool: "average pool"
            case .globalMaxPool: "global max pool"
            case .dense(let dense): dense.weights.halves == nil ? "GEMM" : "GEMM, float16 weights"
            case .affine: "scale + shift"
            case .activation(let act, _): act.rawValue
            case .softmax: "softmax"
            }
        }

        /// The input's height × width for steps that work on feature maps.
        var inputPixels: Int? {
            switch self {
            case .convolution(_, let i, _), .winograd(_, let i, _, _), .direct(_, let i, _), .maxPool(_, let i, _), .averagePool(let i, _),
                 .globalMaxPool(let i):
                i[1] * i[2]
            default: nil
            }
        }

        /// Floats per sample of the output, or nil where it is the input's size.
        var outputCount: Int? {
            switch self {
            case .convolution(_, _, let o), .winograd(_, _, let o, _), .direct(_, _, let o), .maxPool(_, _, let o), .averagePool(_, let o):
                o.reduce(1, *)
            case .dense(let dense): dense.units
            default: nil
            }
        }
    }

    /// Feature maps of at most this many pixels (VGG's 28 × 28 and 14 × 14 stages) are convolved for a
    /// chunk of samples together: one image has too few tiles to use each transformed kernel panel
    /// more than a few times, and the conv4/conv5 kernels (36 MiB each) would stream once per sample.
    static let batchedMapPixels = 28 * 28

    /// Compiles the network in `file`, for `inputShape` (C, H, W) when given (a fully convolutional
    /// model runs on any size), else for the input size the file records.
    /// - Throws: `InferenceError` naming a layer the engine cannot run, or `VGGError.architecture`
    ///   when the input size does not fit the layers.
    /// `fastKernels: false` runs every convolution as im2col + GEMM (for comparisons).
    /// `variant` runs the network differently (for diagnosis; see `Variant`).
    public init(file: NativeFile, inputShape requested: [Int]? = nil, fastKernels: Bool = true, variant: Variant = Variant()) throws {
        Parallel.configureBLAS
        var architecture = file.header.architecture
        if let requested, requested != architecture.inputShape { architecture = try architecture.withInput(requested) }
        let layers = variant.apply(to: architecture.layers)
        let tensors = Dictionary(file.header.tensors.map { ($0.name, $0) }) { a, _ in a }
        func tensor(_ layer: NativeLayer, _ role: ParameterRole) -> NativeTensor? { tensors[role.tensorName(ofLayer: layer.name)] }
        func require(_ layer: NativeLayer, _ role: ParameterRole) throws -> NativeTensor {
            guard let t = tensor(layer, role) else { throw InferenceError.missingTensor(layer: layer.name, tensor: role.tensorName(ofLayer: layer.name)) }
            return t
        }
        func floats(_ t: NativeTensor?) -> [Float]? { t.map { Weights($0, in: file).array } }
        /// (scale, shift) of an inference-mode BatchNormalization.
        func normalization(_ layer: NativeLayer) throws -> ([Float], [Float]) {
            let mean = floats(try require(layer, .movingMean))!, variance = floats(try require(layer, .movingVariance))!
            let gamma = floats(tensor(layer, .gamma)) ?? [Float](repeating: 1, count: mean.count)
            let beta = floats(tensor(layer, .beta)) ?? [Float](repeating: 0, count: mean.count)
            let epsilon = Float(variant.batchNormEpsilon ?? layer.config.epsilon ?? LayerSchema.Default.batchNormEpsilon)
            let scale = (0..<mean.count).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
            return (scale, (0..<mean.count).map { beta[$0] - mean[$0] * scale[$0] })
        }
        /// The activation of a standalone activation layer, nil for softmax.
        func activation(of layer: NativeLayer) throws -> Elementwise? {
            let name = layer.type == .relu ? "relu" : (layer.config.activation ?? "linear")
            if name == "softmax" { return nil }
            guard let value = Elementwise(rawValue: name) else {
                throw InferenceError.unsupportedActivation(layer: layer.name, activation: name, type: layer.type)
            }
            return value
        }

        var steps: [Step] = []
        var labels: [String] = []
        var coverage: [Range<Int>] = []
        var flattened: (channels: Int, positions: Int)?  // the map the last Flatten flattened, until a Dense
        var shape = architecture.inputShape
        var maxActivation = ShapeMath.elementCount(shape) ?? 0
        var scratch = 0
        var index = 0
        while index < layers.count {
            let layer = layers[index]
            let output = layer.outputShape
            var consumed = 1
            /// The layer's weights, with a BatchNormalization that directly follows folded into them and
            /// into `bias` (an owned copy then), and a following activation layer absorbed into `act`.
            /// `keepingHalves`: float16 weights stay as stored unless a normalization is folded into them.
            func fuse(_ kernel: NativeTensor, perOutput: Int, _ bias: inout [Float], _ act: inout String,
                      keepingHalves: Bool = false) throws -> Weights {
                var weights = Weights(kernel, in: file, keepingHalves: keepingHalves)
                if act == "linear", index + consumed < layers.count, layers[index + consumed].type == .batchNormalization {
                    let (scale, shift) = try normalization(layers[index + consumed])
                    var values = weights.array
                    for o in 0..<bias.count {
                        bias[o] = bias[o] * scale[o] + shift[o]
                        for k in 0..<perOutput { values[o * perOutput + k] *= scale[o] }
                    }
                    weights = Weights(values)
                    consumed += 1
                }
                if act == "linear", index + consumed < layers.count,
                   [.relu, .activation].contains(layers[index + consumed].type),
                   let next = try activation(of: layers[index + consumed]) {
                    act = next.rawValue
                    consumed += 1
                }
                return weights
            }
            switch layer.type {
            case .conv2d:
                let kernel = try require(layer, .kernel)
                let (o, c, kh, kw) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3])
                let stride = layer.config.strides ?? LayerSchema.Default.strides
                var bias = floats(tensor(layer, .bias)) ?? [Float](repeating: 0, count: o)
                var act = layer.config.activation ?? "linear"
                let weights = try fuse(kernel, perOutput: c * kh * kw, &bias, &act)
                guard let activationKind = Elementwise(rawValue: act) else {
                    throw InferenceError.unsupportedActivation(layer: layer.name, activation: act, type: .conv2d)
                }
                let outShape = layers[index + consumed - 1].outputShape
                let sameThreeByThree = kh == 3 && kw == 3 && stride == [1, 1] && layer.config.padding == .same
                if fastKernels, sameThreeByThree, c <= DirectConvolution.maximumInputChannels {
                    let direct = DirectConvolution(weights: weights.pointer, bias: bias, inputChannels: c, outputChannels: o,
                                                   activation: activationKind)
                    file.file.release(offset: kernel.offset, length: kernel.nbytes)  // only the packed copy is used
                    scratch = max(scratch, direct.scratchCount(height: shape[1], width: shape[2]))
                    steps.append(.direct(direct, input: shape, output: outShape))
                    break
                }
                if fastKernels, sameThreeByThree, o >= 8 {
                    let fast = WinogradConvolution(weights: weights.pointer, bias: bias, inputChannels: c, outputChannels: o,
                                                   activation: activationKind)
                    file.file.release(offset: kernel.offset, length: kernel.nbytes)  // only the transformed copy is used
                    scratch = max(scratch, fast.scratchCount())
                    let pooled = variant.poolsInConvolution && WinogradConvolution.poolable(activationKind)
                        && index + consumed < layers.count && Self.isHalvingMaxPool(layers[index + consumed], input: outShape)
                    if pooled { consumed += 1 }
                    steps.append(.winograd(fast, input: shape, output: pooled ? layers[index + consumed - 1].outputShape : outShape, pooled: pooled))
                    break
                }
                let pads = Self.padding(layer.config.padding ?? .valid, input: (shape[1], shape[2]), output: (output[1], output[2]),
                                        kernel: (kh, kw), stride: (stride[0], stride[1]))
                let convolution = Convolution(weights: weights, bias: bias,
                                              inputChannels: c, outputChannels: o, kernel: (kh, kw),
                                              stride: (stride[0], stride[1]), padTop: pads.top, padLeft: pads.left,
                                              activation: activationKind)
                scratch = max(scratch, convolution.scratchCount(outWidth: output[2], outHeight: output[1]))
                steps.append(.convolution(convolution, input: shape, output: outShape))
            case .maxPooling2d:
                let window = try LayerSchema.poolingWindow(layer.config)
                let pool = [window.height, window.width], stride = [window.strideY, window.strideX]
                let pads = Self.padding(layer.config.padding ?? .valid, input: (shape[1], shape[2]), output: (output[1], output[2]),
                                        kernel: (pool[0], pool[1]), stride: (stride[0], stride[1]))
                steps.append(.maxPool(MaxPool(pool: (pool[0], pool[1]), stride: (stride[0], stride[1]),
                                              padTop: pads.top, padLeft: pads.left), input: shape, output: output))
            case .adaptiveAvgPool2d:
                if output != shape { steps.append(.averagePool(input: shape, output: output)) }
            case .globalAveragePooling2d:
                steps.append(.averagePool(input: shape, output: [shape[0], 1, 1]))
            case .globalMaxPooling2d:
                steps.append(.globalMaxPool(input: shape))
            case .dense:
                let kernel = try require(layer, .kernel)
                let (units, inputs) = (kernel.shape[0], kernel.shape[1])
                guard ShapeMath.elementCount(shape) == inputs else {
                    throw InferenceError.inputShape(expected: [-1] + file.header.architecture.inputShape, actual: [-1] + architecture.inputShape,
                                                    fixedBy: (layer.name, inputs))
                }
                var bias = floats(tensor(layer, .bias)) ?? [Float](repeating: 0, count: units)
                var act = layer.config.activation ?? "linear"
                let softmax = act == "softmax"
                if softmax { act = "linear" }
                // float16 weights run as stored (the dense kernel widens them in registers): half the memory
                // traffic of widening them at load, and no float32 copy.
                var weights = softmax ? Weights(kernel, in: file, keepingHalves: true)
                    : try fuse(kernel, perOutput: inputs, &bias, &act, keepingHalves: true)
                if let fromHWC = variant.firstDenseColumnsFromHWC, let map = flattened {
                    weights = Self.reorderColumns(weights, units: units, channels: map.channels, positions: map.positions, fromHWC: fromHWC)
                }
                flattened = nil
                guard let activationKind = Elementwise(rawValue: act) else {
                    throw InferenceError.unsupportedActivation(layer: layer.name, activation: act, type: .dense)
                }
                steps.append(.dense(Dense(weights: weights, bias: bias,
                                          inputs: inputs, units: units, activation: activationKind)))
                if softmax { steps.append(.softmax(width: units)) }
            case .batchNormalization:
                let (scale, shift) = try normalization(layer)
                let perChannel = shape.count == 3 ? shape[1] * shape[2] : 1
                steps.append(.affine(ChannelAffine(scale: scale, shift: shift, activation: .linear), channels: scale.count, perChannel: perChannel))
            case .relu, .activation, .softmax:
                let count = ShapeMath.elementCount(shape) ?? 0
                if let act = layer.type == .softmax ? nil : try activation(of: layer) {
                    steps.append(.activation(act, count: count))
                } else {
                    guard shape.count == 1 else {
                        throw InferenceError.spatialSoftmax(layer: layer.name)
                    }
                    steps.append(.softmax(width: count))
                }
            case .flatten:
                if shape.count == 3 { flattened = (shape[0], shape[1] * shape[2]) }
            case .input, .dropout:
                break  // identity (so is Flatten of an NCHW map: already C,H,W ordered in memory)
            }
            while labels.count < steps.count {
                coverage.append(index..<(index + consumed))
                let names = layers[index..<(index + consumed)].map(\.name).joined(separator: "+")
                labels.append("\(names) (\(steps[labels.count].algorithm))")
            }
            index += consumed
            shape = layers[index - 1].outputShape
            maxActivation = max(maxActivation, ShapeMath.elementCount(shape) ?? 0)
        }
        self.steps = steps
        self.stepLabels = labels
        self.stepCoverage = coverage
        self.layers = layers
        self.inputShape = architecture.inputShape
        self.outputShape = shape
        self.maxActivation = maxActivation
        self.scratchCount = max(scratch, 1)
        // Two activation buffers, the small-map batch buffer (at most another) and the scratch, per sample.
        let needed = ShapeMath.saturatingProduct([ShapeMath.saturatingSum(ShapeMath.saturatingProduct([3, maxActivation]), scratch), 4])
        let budget = MemoryBudget.bytes
        if needed > budget {
            // Activations grow with the input's area: the side that fits scales with the square root.
            let side = Int(Double(min(architecture.inputShape[1], architecture.inputShape[2])) * (Double(budget) / Double(needed)).squareRoot())
            throw InferenceError.activationMemory(input: architecture.inputShape, bytes: needed, budget: budget,
                                                  fittingSide: side >= 8 ? side / 8 * 8 : nil)
        }
    }

    /// Whether `layer` is a 2 × 2 / stride 2 max pool without padding (Keras 'valid', or 'same' on an even
    /// map) of an `input`-shaped (C, H, W) map, which the Winograd output transform can apply.
    static func isHalvingMaxPool(_ layer: NativeLayer, input: [Int]) -> Bool {
        guard layer.type == .maxPooling2d, input.count == 3, let window = try? LayerSchema.poolingWindow(layer.config),
              window.height == 2, window.width == 2, window.strideY == 2, window.strideX == 2 else { return false }
        return layer.outputShape == [input[0], input[1] / 2, input[2] / 2]
            && padding(layer.config.padding ?? .valid, input: (input[1], input[2]), output: (input[1] / 2, input[2] / 2),
                       kernel: (2, 2), stride: (2, 2)) == (0, 0)
    }

    /// A dense kernel (units × C·P) with its input columns reordered between H,W,C and C,H,W order.
    static func reorderColumns(_ weights: Weights, units: Int, channels: Int, positions: Int, fromHWC: Bool) -> Weights {
        let inputs = channels * positions
        var values = [Float](repeating: 0, count: units * inputs)
        weights.withFloats { source in
            for o in 0..<units {
                for c in 0..<channels {
                    for p in 0..<positions {
                        let (chw, hwc) = (o * inputs + c * positions + p, o * inputs + p * channels + c)
                        if fromHWC { values[chw] = source[hwc] } else { values[hwc] = source[chw] }
                    }
                }
            }
        }
        return Weights(values)
    }

    /// Keras/TensorFlow padding: 'same' pads (out−1)·stride + kernel − in in total, the extra one at the
    /// bottom/right; PyTorch's symmetric k//2 padding is the same for odd kernels at stride 1.
    static func padding(_ mode: Padding, input: (Int, Int), output: (Int, Int), kernel: (Int, Int), stride: (Int, Int)) -> (top: Int, left: Int) {
        guard mode == .same else { return (0, 0) }
        let totalH = max((output.0 - 1) * stride.0 + kernel.0 - input.0, 0)
        let totalW = max((output.1 - 1) * stride.1 + kernel.1 - input.1, 0)
        return (totalH / 2, totalW / 2)
    }

    /// Runs `batch` samples laid out NCHW in `input`; returns the outputs, one after another.
    /// Large feature maps run one sample at a time (their activations are the large ones), small ones
    /// for chunks of samples together (see `batchedMapPixels`), the dense tail on the whole batch, where
    /// batching turns matrix-vector products into GEMMs.
    public func run(_ input: [Float], batch: Int) -> [Float] {
        var untimed: [Double]? = nil
        return run(input, batch: batch, times: &untimed)
    }

    /// Runs like `run(_:batch:)` and adds each step's wall-clock time (all samples) to
    /// `stepMilliseconds`, which must have one entry per `stepLabels` entry.
    public func run(_ input: [Float], batch: Int, stepMilliseconds: inout [Double]) -> [Float] {
        precondition(stepMilliseconds.count == steps.count, "one entry per step")
        var times: [Double]? = stepMilliseconds
        defer { stepMilliseconds = times! }
        return run(input, batch: batch, times: &times)
    }

    /// `times`, when not nil, receives each step's milliseconds.
    private func run(_ input: [Float], batch: Int, times: inout [Double]?) -> [Float] {
        let sampleIn = ShapeMath.elementCount(inputShape) ?? 0
        precondition(input.count == batch * sampleIn, "input size checked by the caller")
        let split = steps.firstIndex { if case .dense = $0 { return true } else { return false } } ?? steps.count
        let batchedFrom = steps[..<split].firstIndex { ($0.inputPixels ?? .max) <= Self.batchedMapPixels } ?? split
        let chunk = samplesPerChunk(batchedFrom..<split, batch: batch)
        let batchedSize = chunk * largestActivation(batchedFrom..<split)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: maxActivation), b = UnsafeMutablePointer<Float>.allocate(capacity: maxActivation)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: batchedSize)
        // The small maps' second buffer is `a` where it is large enough: free once the chunk's large maps are done.
        let spare = batchedSize > maxActivation ? UnsafeMutablePointer<Float>.allocate(capacity: batchedSize) : nil
        let d = spare ?? a
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
        defer { a.deallocate(); b.deallocate(); c.deallocate(); spare?.deallocate(); scratch.deallocate() }
        var perSample: [Float] = []
        var flatSize = 0
        for first in stride(from: 0, to: batch, by: chunk) {
            let samples = min(chunk, batch - first)
            // Large maps one sample at a time (their activations are the large ones), into c…
            var mapSize = 0
            for n in 0..<samples {
                input.withUnsafeBufferPointer { a.update(from: $0.baseAddress! + (first + n) * sampleIn, count: sampleIn) }
                let (result, size) = execute(steps[..<batchedFrom], batch: 1, current: a, next: b, scratch: scratch, count: sampleIn,
                                             times: &times)
                (c + n * size).update(from: result, count: size)
                mapSize = size
            }
            // …then the small maps for the chunk's samples together.
            let (result, size) = execute(steps[batchedFrom..<split], batch: samples, current: c, next: d, scratch: scratch,
                                         count: mapSize, times: &times)
            if first == 0 { perSample.reserveCapacity(batch * size); flatSize = size }
            perSample.append(contentsOf: UnsafeBufferPointer(start: result, count: samples * size))
        }
        if split == steps.count { return perSample }
        let tailSize = batch * tailMaxActivation(from: split, input: flatSize)
        let e = UnsafeMutablePointer<Float>.allocate(capacity: tailSize), f = UnsafeMutablePointer<Float>.allocate(capacity: tailSize)
        defer { e.deallocate(); f.deallocate() }
        perSample.withUnsafeBufferPointer { e.update(from: $0.baseAddress!, count: perSample.count) }
        let (result, size) = execute(steps[split...], batch: batch, current: e, next: f, scratch: scratch, count: flatSize,
                                     times: &times)
        return Array(UnsafeBufferPointer(start: result, count: batch * size))
    }

    /// The largest per-sample activation entering or leaving `range` (its input: the output of the step
    /// before it, or the network's input).
    private func largestActivation(_ range: Range<Int>) -> Int {
        let entering = steps[..<range.lowerBound].last { $0.outputCount != nil }?.outputCount ?? (ShapeMath.elementCount(inputShape) ?? 0)
        return steps[range].reduce(entering) { max($0, $1.outputCount ?? 0) }
    }

    /// Samples whose small-map activations (two buffers) fit in the last-level cache, at least one.
    private func samplesPerChunk(_ range: Range<Int>, batch: Int) -> Int {
        let perSample = 2 * 4 * max(1, largestActivation(range))
        return max(1, min(batch, LastLevelCache.bytes / perSample))
    }

    /// Every step's output for one sample (NCHW), in step order: for comparing layer by layer.
    public func activations(_ input: [Float]) -> [[Float]] {
        precondition(input.count == ShapeMath.elementCount(inputShape) ?? 0, "input size checked by the caller")
        let largest = steps.indices.reduce(maxActivation) { max($0, tailMaxActivation(from: $1, input: maxActivation)) }
        let a = UnsafeMutablePointer<Float>.allocate(capacity: largest), b = UnsafeMutablePointer<Float>.allocate(capacity: largest)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
        defer { a.deallocate(); b.deallocate(); scratch.deallocate() }
        input.withUnsafeBufferPointer { a.update(from: $0.baseAddress!, count: input.count) }
        var (current, next, size) = (a, b, input.count)
        var untimed: [Double]? = nil
        var outputs: [[Float]] = []
        for index in steps.indices {
            let (result, resultSize) = execute(steps[index...index], batch: 1, current: current, next: next, scratch: scratch,
                                               count: size, times: &untimed)
            if result != current { swap(&current, &next) }
            size = resultSize
            outputs.append(Array(UnsafeBufferPointer(start: current, count: size)))
        }
        return outputs
    }

    /// The largest per-sample activation of the dense tail.
    private func tailMaxActivation(from split: Int, input: Int) -> Int {
        steps[split...].reduce(input) { largest, step in
            if case .dense(let dense) = step { return max(largest, dense.units) }
            return largest
        }
    }

    /// Runs `steps` on `batch` samples in `current`; returns where the result is and its per-sample size.
    private func execute(_ steps: ArraySlice<Step>, batch: Int, current start: UnsafeMutablePointer<Float>,
                         next other: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
                         count: Int, times: inout [Double]?) -> (UnsafeMutablePointer<Float>, Int) {
        var current = start, next = other, size = count
        /// Runs a per-sample map from a `from`-shaped to a `to`-shaped activation on every sample.
        func eachSample(_ from: [Int], _ to: [Int], _ body: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
            let (inSize, outSize) = (from.reduce(1, *), to.reduce(1, *))
            for n in 0..<batch { body(current + n * inSize, next + n * outSize) }
            swap(&current, &next)
            size = outSize
        }
        for (position, step) in zip(steps.indices, steps) {
            let start = times == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            defer { times?[position] += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }
            switch step {
            case .convolution(let conv, let i, let o):
                eachSample(i, o) { conv.run(input: $0, height: i[1], width: i[2], outHeight: o[1], outWidth: o[2], output: $1, scratch: scratch) }
            case .winograd(let conv, let i, let o, let pooled):
                conv.run(input: current, images: batch, height: i[1], width: i[2], pooled: pooled, output: next, scratch: scratch)
                swap(&current, &next)
                size = o.reduce(1, *)
            case .direct(let conv, let i, let o):
                eachSample(i, o) { conv.run(input: $0, height: i[1], width: i[2], output: $1, scratch: scratch) }
            case .maxPool(let pool, let i, let o):
                eachSample(i, o) { pool.run(input: $0, channels: i[0], height: i[1], width: i[2], outHeight: o[1], outWidth: o[2], output: $1) }
            case .averagePool(let i, let o):
                eachSample(i, o) { Self.averagePool($0, input: i, output: o, into: $1) }
            case .globalMaxPool(let i):
                eachSample(i, [i[0]]) { Self.globalMaxPool($0, input: i, into: $1) }
            case .dense(let dense):
                dense.run(input: current, batch: batch, output: next)
                swap(&current, &next)
                size = dense.units
            case .affine(let affine, let channels, let perChannel):
                for n in 0..<batch { affine.run(current + n * channels * perChannel, channels: channels, perChannel: perChannel) }
            case .activation(let act, let count):
                act.apply(current, count: batch * count)
            case .softmax(let width):
                for n in 0..<batch { Self.softmax(current + n * width, width) }
            }
        }
        return (current, size)
    }

    /// Softmax of `width` values in place (max-subtracted).
    public static func softmax(_ values: UnsafeMutablePointer<Float>, _ width: Int) {
        var largest = -Float.infinity
        for i in 0..<width { largest = max(largest, values[i]) }
        var sum: Float = 0
        for i in 0..<width {
            values[i] = exp(values[i] - largest)
            sum += values[i]
        }
        for i in 0..<width { values[i] /= sum }
    }

    static func globalMaxPool(_ input: UnsafePointer<Float>, input i: [Int], into out: UnsafeMutablePointer<Float>) {
        let pixels = i[1] * i[2]
        for c in 0..<i[0] {
            var largest = -Float.infinity
            for p in 0..<pixels { largest = max(largest, input[c * pixels + p]) }
            out[c] = largest
        }
    }

    static func averagePool(_ input: UnsafePointer<Float>, input i: [Int], output o: [Int], into out: UnsafeMutablePointer<Float>) {
        let (fh, fw) = (i[1] / o[1], i[2] / o[2])
        for c in 0..<i[0] {
            for oy in 0..<o[1] {
                for ox in 0..<o[2] {
                    var sum: Float = 0
                    for y in (oy * fh)..<((oy + 1) * fh) {
                        for x in (ox * fw)..<((ox + 1) * fw) { sum += input[(c * i[1] + y) * i[2] + x] }
                    }
                    out[(c * o[1] + oy) * o[2] + ox] = sum / Float(fh * fw)
                }
            }
        }
    }
}
