import Foundation
import Inference
import OnnxFormat
import FileIO
import VGGCore

/// Axis order of `.npy` inputs (and of 4-D outputs): PyTorch's NCHW or Keras's NHWC.
public enum TensorLayoutChoice: String, CaseIterable, Sendable {
    case nchw, nhwc

    /// The layout `model`'s inputs default to: N,H,W,C when its file records that input (an ONNX graph
    /// that transposes an N,H,W,C input, as tf2onnx writes from Keras, and `.vggw` files converted from
    /// one); N,C,H,W otherwise. Reads an ONNX graph or a `.vggw` header, never a Keras or PyTorch file.
    public static func defaultInput(for model: String) -> TensorLayoutChoice {
        let source: String?
        switch try? FileKind.detect(path: model) {
        case .onnx?: source = (try? OnnxReader.read(path: model))?.format
        case .native?: source = (try? NativeFile(path: model, verifyChecksums: false))?.header.provenance.sourceFormat
        default: source = nil
        }
        return source == SourceFramework.channelsLastOnnxFormat ? .nhwc : .nchw
    }
}

/// How a network is run (`--logits` and the variants `verify --explain` tries).
public typealias RunVariant = InferenceEngine.Variant

/// Runs native models on `.npy` inputs and compares outputs with golden `.npy` files.
public enum Prediction {
    /// Loads `model` (any format vggconv reads) and runs every sample of the `.npy` at `input`. Returns the outputs as an array in
    /// the input's layout (N × classes, or N × C × H × W / N × H × W × C). `variant` changes how the network runs
    /// (`--logits`: stop before a final softmax).
    /// - Throws: `VGGError.badNpy` or `InferenceError.inputShape` with a hint about the layout.
    /// `reading` says how to read a weights-only or ambiguous `model` (its Keras config, a head's global pooling).
    public static func run(model: String, reading: ReadOptions = ReadOptions(), input: String, layout: TensorLayoutChoice = .nchw,
                           variant: InferenceEngine.Variant = InferenceEngine.Variant()) throws -> NpyArray {
        try PreparedInput(model: try ModelOpener.native(model, reading: reading), input: input, layout: layout).run(variant)
    }

    /// The (C, H, W) an input of `shape` asks for, when its channel axis matches the model's.
    static func requestedShape(_ shape: [Int], channels: Int, layout: TensorLayoutChoice) -> [Int]? {
        let sample = shape.count == 4 ? Array(shape.dropFirst()) : shape
        guard sample.count == 3 else { return nil }
        let chw = layout == .nchw ? sample : ChannelOrder.channelsFirst(sample)
        return chw[0] == channels && chw.allSatisfy({ $0 > 0 }) ? chw : nil
    }

    /// The input as float32 NCHW, checked against the model's input shape.
    static func canonicalInput(_ array: NpyArray, path: String, engine: InferenceEngine,
                               layout: TensorLayoutChoice) throws -> ([Float], Int) {
        let values = try floats(array, path: path)
        var shape = array.shape
        if shape.count == 3 { shape.insert(1, at: 0) }
        let (c, h, w) = (engine.inputShape[0], engine.inputShape[1], engine.inputShape[2])
        let expected = layout == .nchw ? [c, h, w] : [h, w, c]
        guard shape.count == 4, Array(shape.dropFirst()) == expected, shape[0] > 0 else {
            let other = layout == .nchw ? [h, w, c] : [c, h, w]
            if shape.count == 4, Array(shape.dropFirst()) == other {
                throw InferenceError.inputLayout(expected: [-1] + expected, actual: array.shape, looksChannelsLast: layout == .nchw)
            }
            throw InferenceError.inputShape(expected: [-1] + expected, actual: array.shape)
        }
        let batch = shape[0]
        return (layout == .nchw ? values : Layout.permute(values, batch: batch, c: c, h: h, w: w, toChannelsLast: false), batch)
    }

    /// float32 or float64 values; other dtypes are refused.
    static func floats(_ array: NpyArray, path: String) throws -> [Float] {
        switch array.dtype {
        case .float32: return array.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        case .float64: return array.bytes.withUnsafeBytes { $0.bindMemory(to: Double.self).map { Float($0) } }
        default:
            throw VGGError.badNpy(path: path, reason: "dtype \(array.dtype.rawValue) is not float32 or float64; save it with arr.astype('float32')")
        }
    }
}

/// A model and a checked input, ready to run once or under several variants (`verify --explain`).
struct PreparedInput {
    let file: NativeFile
    let layout: TensorLayoutChoice
    /// The input as float32 NCHW.
    var values: [Float]
    let batch: Int
    /// (C, H, W) of one sample.
    let sampleShape: [Int]

    init(model file: NativeFile, input: String, layout: TensorLayoutChoice) throws {
        let array = try NpyArray.read(path: input)
        let requested = Prediction.requestedShape(array.shape, channels: file.header.architecture.inputShape[0], layout: layout)
        let engine = try InferenceEngine(file: file, inputShape: requested)
        (values, batch) = try Prediction.canonicalInput(array, path: input, engine: engine, layout: layout)
        self.file = file
        self.layout = layout
        sampleShape = engine.inputShape
    }

    /// The outputs in the input's layout.
    func run(_ variant: InferenceEngine.Variant = InferenceEngine.Variant(), input: [Float]? = nil) throws -> NpyArray {
        let engine = try InferenceEngine(file: file, inputShape: sampleShape, variant: variant)
        let output = engine.run(input ?? values, batch: batch)
        var shape = [batch] + engine.outputShape
        var result = output
        if layout == .nhwc, engine.outputShape.count == 3 {
            let (c, h, w) = (engine.outputShape[0], engine.outputShape[1], engine.outputShape[2])
            result = Layout.permute(output, batch: batch, c: c, h: h, w: w, toChannelsLast: true)
            shape = [batch, h, w, c]
        }
        return NpyArray(dtype: .float32, shape: shape, bytes: result.withUnsafeBytes { Array($0) })
    }
}

enum Layout {
    /// NCHW ↔ NHWC.
    static func permute(_ values: [Float], batch: Int, c: Int, h: Int, w: Int, toChannelsLast: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        for n in 0..<batch {
            for ch in 0..<c {
                for y in 0..<h {
                    for x in 0..<w {
                        let first = ((n * c + ch) * h + y) * w + x, last = ((n * h + y) * w + x) * c + ch
                        if toChannelsLast { out[last] = values[first] } else { out[first] = values[last] }
                    }
                }
            }
        }
        return out
    }
}

/// The comparison `vggconv verify` reports.
public struct Verification: Sendable {
    public struct Sample: Sendable {
        public var maxAbsoluteError: Float
        /// The largest absolute error relative to the sample's largest |golden| value.
        public var maxRelativeError: Float
        public var cosineSimilarity: Float
        /// nil when the output is not a vector of scores.
        public var top1Agrees: Bool?
        public var top5Agrees: Bool?
        /// NaN or infinite values in the output or the golden sample; any one fails the sample.
        public var nonFiniteValues: Int
        public var withinTolerance: Bool
    }

    public var samples: [Sample]
    public var atol: Float
    public var rtol: Float
    public var passed: Bool { samples.allSatisfy { $0.withinTolerance && $0.top1Agrees != false && $0.top5Agrees != false } }

    /// Compares `output` with `golden` sample by sample: |error| ≤ atol + rtol·max|golden| and identical
    /// top-1 and top-5 classes (top-k with k = min(5, classes)). A NaN or infinity on either side fails
    /// its sample (`max` would silently drop a NaN).
    public static func compare(output: NpyArray, golden: NpyArray, goldenPath: String, atol: Float, rtol: Float) throws -> Verification {
        guard output.shape == golden.shape else {
            throw VGGError.badNpy(path: goldenPath, reason: "golden has shape \(golden.shape) but the model's output has shape \(output.shape)")
        }
        let a = try Prediction.floats(output, path: "output"), g = try Prediction.floats(golden, path: goldenPath)
        let batch = max(output.shape.first ?? 1, 1)
        let width = a.count / batch
        let scores = output.shape.count == 2
        var samples: [Sample] = []
        for n in 0..<batch {
            let x = Array(a[(n * width)..<((n + 1) * width)]), y = Array(g[(n * width)..<((n + 1) * width)])
            // Sums in double precision: a float32 dot product of 1000 logits can round a perfect match past 1.
            var maxAbs: Float = 0, scale: Float = 0, dot = 0.0, nx = 0.0, ny = 0.0
            var nonFinite = 0
            for i in 0..<width {
                guard x[i].isFinite, y[i].isFinite else {
                    nonFinite += 1
                    continue
                }
                maxAbs = max(maxAbs, abs(x[i] - y[i]))
                scale = max(scale, abs(y[i]))
                let (xi, yi) = (Double(x[i]), Double(y[i]))
                dot += xi * yi; nx += xi * xi; ny += yi * yi
            }
            if nonFinite > 0 { maxAbs = .nan }
            let cosine = nonFinite > 0 ? .nan : nx > 0 && ny > 0 ? min(1, dot / (nx.squareRoot() * ny.squareRoot())) : (nx == ny ? 1 : 0)
            let k = min(5, width)
            func top(_ v: [Float]) -> [Int] { Array(v.indices.sorted { v[$0] > v[$1] }.prefix(k)) }
            samples.append(Sample(maxAbsoluteError: maxAbs, maxRelativeError: scale > 0 ? maxAbs / scale : maxAbs,
                                  cosineSimilarity: Float(cosine),
                                  top1Agrees: scores ? top(x).first == top(y).first : nil,
                                  top5Agrees: scores ? Set(top(x)) == Set(top(y)) : nil,
                                  nonFiniteValues: nonFinite,
                                  withinTolerance: nonFinite == 0 && maxAbs <= atol + rtol * scale))
        }
        return Verification(samples: samples, atol: atol, rtol: rtol)
    }

    /// One line per sample and a verdict.
    public var report: String {
        var lines = ["sample  max abs err   max rel err   cosine      top-1  top-5"]
        for (i, s) in samples.enumerated() {
            func yes(_ b: Bool?) -> String { b.map { $0 ? "same" : "DIFF" } ?? "n/a" }
            lines.append(String(format: "%6d  %11.3e  %12.3e  %.8f  %-5@  %@", i, s.maxAbsoluteError, s.maxRelativeError,
                                s.cosineSimilarity, yes(s.top1Agrees), yes(s.top5Agrees)))
        }
        let worst = samples.map(\.maxRelativeError).max() ?? 0
        let classes = samples.first?.top5Agrees != nil ? "top-5 identical" : "no class scores, so no top-k compared"
        lines.append(passed
            ? String(format: "PASS: %d samples within |err| <= %g + %g x max|golden| (worst relative %.2e), %@", samples.count, atol, rtol, worst, classes)
            : "FAIL: " + failures)
        return lines.joined(separator: "\n")
    }

    private var failures: String {
        let bad = samples.enumerated().filter { !$0.element.withinTolerance || $0.element.top1Agrees == false || $0.element.top5Agrees == false }
        let nonFinite = samples.map(\.nonFiniteValues).reduce(0, +)
        let prefix = nonFinite > 0 ? "\(nonFinite) NaN or infinite values in the outputs or the golden; " : ""
        return prefix + "\(bad.count) of \(samples.count) samples differ (samples \(bad.prefix(8).map { String($0.offset) }.joined(separator: ", "))) beyond |err| <= \(atol) + \(rtol) x max|golden| or in their top-5"
    }
}

/// Forward-pass latency of a native model.
public enum Benchmark {
    /// The kernel variants this CPU runs: "avx512", "avx2" or "generic" (`VGGCONV_SIMD` picks a lower one).
    public static var kernels: String { InferenceEngine.kernels }

    public struct Result: Sendable {
        public var milliseconds: [Double]
        public var batch: Int
        /// Each step's label and its median time over the timed passes (filled with `perLayer`).
        public var steps: [(label: String, median: Double)] = []
        public var median: Double { Benchmark.median(milliseconds) }
        /// The kernel variants that ran: "avx512", "avx2" or "generic" (`VGGCONV_SIMD` picks a lower one).
        public var kernels = Benchmark.kernels
        /// Opening, checking and compiling the model (weight transforms included), before the warm-up pass.
        public var loadMilliseconds: Double = 0
    }

    static func median(_ values: [Double]) -> Double { let s = values.sorted(); return s[s.count / 2] }

    /// Times `iterations` forward passes of a random batch after one warm-up pass; load time excluded.
    /// `fastKernels: false` times the im2col + GEMM path for every convolution instead.
    /// `perLayer` also times every step (a clock read per step, negligible next to a layer).
    public static func run(model: String, reading: ReadOptions = ReadOptions(), batch: Int, iterations: Int, fastKernels: Bool = true,
                           perLayer: Bool = false) throws -> Result {
        let loading = DispatchTime.now().uptimeNanoseconds
        let engine = try InferenceEngine(file: try ModelOpener.native(model, reading: reading), fastKernels: fastKernels)
        let loaded = Double(DispatchTime.now().uptimeNanoseconds - loading) / 1e6
        var generator = SplitMix(seed: 42)
        let input = (0..<(batch * engine.inputShape.reduce(1, *))).map { _ in Float(generator.next() % 2001) / 1000 - 1 }
        _ = engine.run(input, batch: batch)
        var times: [Double] = []
        var stepTimes = [[Double]](repeating: [], count: engine.stepLabels.count)
        for _ in 0..<iterations {
            var pass = [Double](repeating: 0, count: engine.stepLabels.count)
            let start = DispatchTime.now().uptimeNanoseconds
            _ = perLayer ? engine.run(input, batch: batch, stepMilliseconds: &pass) : engine.run(input, batch: batch)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            for (i, t) in pass.enumerated() { stepTimes[i].append(t) }
        }
        var result = Result(milliseconds: times, batch: batch)
        result.loadMilliseconds = loaded
        if perLayer { result.steps = zip(engine.stepLabels, stepTimes).map { ($0, median($1)) } }
        return result
    }
}

/// A tiny deterministic generator (SplitMix64) for benchmark inputs and seeded test mutations.
public struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Reads a `.npy` file (for the CLI, which does not import VGGCore's types directly).
public func readNpy(_ path: String) throws -> NpyArray { try NpyArray.read(path: path) }
