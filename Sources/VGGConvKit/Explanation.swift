import Foundation
import Imaging
import Inference
import FileIO
import VGGCore

/// `verify --explain`: when outputs differ from the golden, re-runs the comparison under each known
/// cause of a Keras↔PyTorch mismatch — on the outputs (softmax vs logits), on the input (layout reshaped
/// instead of transposed, RGB vs BGR, Keras 'caffe' vs torchvision preprocessing) and on the network
/// (BatchNorm epsilon, the first Dense's Flatten order) — and names those under which it passes.
public enum Explanation {
    /// One candidate cause and how the comparison went under it.
    public struct Candidate: Sendable {
        public var cause: MismatchCause
        public var verification: Verification
        public var passes: Bool { verification.passed }
        /// The worst sample's cosine similarity under this candidate.
        public var cosine: Float { verification.samples.map(\.cosineSimilarity).min() ?? 0 }
    }

    /// A single-cause change to try.
    private struct Trial {
        var cause: MismatchCause
        var variant = RunVariant()
        var input: (([Float], [Int], Int) -> [Float])?
        var output: ((NpyArray) -> NpyArray)?
    }

    /// Tries every candidate for `model` on `input` against `golden`; returns them all, passing ones first.
    /// - Throws: what loading the model or the arrays throws.
    /// `reading` says how to read a weights-only or ambiguous `model` (its Keras config, a head's global pooling).
    public static func explain(model: String, reading: ReadOptions = ReadOptions(), input: String, golden goldenPath: String, layout: TensorLayoutChoice,
                               variant: RunVariant, atol: Float, rtol: Float) throws -> [Candidate] {
        let prepared = try PreparedInput(model: try ModelOpener.native(model, reading: reading), input: input, layout: layout)
        let golden = try NpyArray.read(path: goldenPath)
        let layers = prepared.file.header.architecture.layers
        var trials: [Trial] = []
        if !variant.logits, endsInSoftmax(layers) {
            trials.append(Trial(cause: .goldenHoldsLogits, variant: RunVariant(logits: true)))
        }
        if !endsInSoftmax(layers) || variant.logits {
            trials.append(Trial(cause: .goldenHoldsProbabilities, output: softmax))
        }
        trials.append(Trial(cause: .inputReshaped(declaredChannelsLast: layout == .nhwc),
                            input: { values, shape, batch in
                                Layout.permute(values, batch: batch, c: shape[0], h: shape[1], w: shape[2], toChannelsLast: layout == .nhwc)
                            }))
        if prepared.sampleShape[0] == 3 {
            trials.append(Trial(cause: .channelsReversed,
                                input: { values, shape, batch in reverseChannels(values, shape, batch) }))
            // (given, expected, whether RGB and BGR swap, the value in its new channel).
            let conversions: [(Preprocessing, Preprocessing, Bool, (Float, Int) -> Float)] = [
                (.torch, .keras, true, torchToCaffe), (.keras, .torch, true, caffeToTorch),
                (.none, .keras, true, rawToCaffe), (.none, .torch, false, rawToTorch),
            ]
            for (given, expected, swaps, convert) in conversions {
                trials.append(Trial(cause: .preprocessing(given: given, expected: expected), input: { values, shape, batch in
                    perChannel(values, shape, batch, swappingRGB: swaps, convert)
                }))
            }
        }
        if layers.contains(where: { $0.type == .batchNormalization }) {
            let (keras, torch) = (SourceFramework.keras.batchNormEpsilon, SourceFramework.pytorch.batchNormEpsilon)
            for epsilon in [keras, torch] where layers.contains(where: { $0.type == .batchNormalization && ($0.config.epsilon ?? LayerSchema.Default.batchNormEpsilon) != epsilon }) {
                trials.append(Trial(cause: .batchNormEpsilon(epsilon), variant: RunVariant(batchNormEpsilon: epsilon)))
            }
        }
        if let flatten = layers.firstIndex(where: { $0.type == .flatten }), layers[flatten...].contains(where: { $0.type == .dense }),
           (flatten == 0 ? prepared.file.header.architecture.inputShape : layers[flatten - 1].outputShape).count == 3 {
            trials.append(Trial(cause: .flattenRowsNotPermuted, variant: RunVariant(firstDenseColumnsFromHWC: true)))
            trials.append(Trial(cause: .flattenRowsPermutedTwice, variant: RunVariant(firstDenseColumnsFromHWC: false)))
        }
        return try trials.map { trial in
            var run = trial.variant
            run.logits = run.logits || variant.logits
            let input = trial.input.map { $0(prepared.values, prepared.sampleShape, prepared.batch) }
            var output = try prepared.run(run, input: input)
            if let transform = trial.output { output = transform(output) }
            let verification = try Verification.compare(output: output, golden: golden, goldenPath: goldenPath, atol: atol, rtol: rtol)
            return Candidate(cause: trial.cause, verification: verification)
        }.sorted { $0.passes && !$1.passes }
    }

    /// The cause of a failed comparison when the outputs alone show it (softmax vs logits), with no
    /// extra forward pass.
    public static func evidentCause(output: NpyArray, golden: NpyArray) -> MismatchCause? {
        guard output.shape == golden.shape, output.shape.count == 2,
              let ours = try? Prediction.floats(output, path: ""), let theirs = try? Prediction.floats(golden, path: "") else { return nil }
        let width = output.shape[1]
        func probabilities(_ v: [Float]) -> Bool {
            stride(from: 0, to: v.count, by: width).allSatisfy { start in
                let row = v[start..<(start + width)]
                return row.allSatisfy { $0 >= 0 && $0 <= 1 } && abs(row.reduce(0, +) - 1) < 1e-3
            }
        }
        switch (probabilities(ours), probabilities(theirs)) {
        case (true, false): return .goldenHoldsLogits
        case (false, true): return .goldenHoldsProbabilities
        default: return nil
        }
    }

    /// Why a model that stores 16-bit weights fails against goldens the framework computed in float32:
    /// when every sample keeps its top-5 and the worst error is no more than what rounding weights to 16
    /// bits costs (1e-2 of max|golden| for float16, 5e-2 for bfloat16), the dtype, the worst error and the
    /// tolerance that passes. Reads only the model's tensor list.
    public static func precisionLoss(model: String, verification: Verification) -> PrecisionLoss? {
        let samples = verification.samples
        guard !verification.passed, !samples.isEmpty,
              samples.allSatisfy({ $0.nonFiniteValues == 0 && $0.top1Agrees != false && $0.top5Agrees != false }),
              let dtypes = (try? TensorInventory.of(path: model)).map({ Set($0.tensors.map(\.dtype)) }),
              let stored = [DType.bfloat16, .float16].first(where: dtypes.contains) else { return nil }
        let worst = samples.map(\.maxRelativeError).max() ?? .infinity
        guard worst > 0, worst <= (stored == .bfloat16 ? 5e-2 : 1e-2) else { return nil }
        let rtol = Float(pow(10, (log10(Double(worst)) + 1e-6).rounded(.up)))
        return PrecisionLoss(storedDType: stored, worstRelativeError: worst, passingTolerance: rtol)
    }

    /// A 16-bit model's error against float32 goldens, within what rounding its weights costs.
    public struct PrecisionLoss: Sendable, Equatable {
        public var storedDType: DType
        public var worstRelativeError: Float
        /// The smallest power of ten at or above the worst error: an `rtol` that passes.
        public var passingTolerance: Float
        public var remedy: Remedy { .relativeTolerance(passingTolerance) }
    }

    static func endsInSoftmax(_ layers: [NativeLayer]) -> Bool {
        let logits = RunVariant(logits: true).apply(to: layers)
        return logits.count != layers.count || zip(logits, layers).contains { $0.config.activation != $1.config.activation }
    }

    private static func softmax(_ array: NpyArray) -> NpyArray {
        guard array.shape.count == 2, var values = try? Prediction.floats(array, path: "") else { return array }
        let width = array.shape[1]
        values.withUnsafeMutableBufferPointer { buffer in
            for start in stride(from: 0, to: buffer.count, by: width) { InferenceEngine.softmax(buffer.baseAddress! + start, width) }
        }
        return NpyArray(dtype: .float32, shape: array.shape, bytes: values.withUnsafeBytes { Array($0) })
    }

    private static func reverseChannels(_ values: [Float], _ shape: [Int], _ batch: Int) -> [Float] {
        let plane = shape[1] * shape[2], channels = shape[0]
        var out = values
        for n in 0..<batch {
            for c in 0..<channels {
                let from = (n * channels + c) * plane, to = (n * channels + channels - 1 - c) * plane
                out.replaceSubrange(to..<(to + plane), with: values[from..<(from + plane)])
            }
        }
        return out
    }

    /// Maps every value of an NCHW batch with `convert(value, channel)`, the channel being where the value
    /// lands: its own, or the mirrored one when the conversion swaps RGB and BGR.
    private static func perChannel(_ values: [Float], _ shape: [Int], _ batch: Int, swappingRGB: Bool,
                                   _ convert: (Float, Int) -> Float) -> [Float] {
        let plane = shape[1] * shape[2]
        let source = swappingRGB ? reverseChannels(values, shape, batch) : values
        return source.indices.map { convert(source[$0], ($0 / plane) % shape[0]) }
    }

    // The value has already moved to `bgr` / `rgb`; `2 - channel` is where it came from.
    private static func torchToCaffe(_ x: Float, _ bgr: Int) -> Float {
        let rgb = 2 - bgr
        return (x * Preprocessing.torchStdRGB[rgb] + Preprocessing.torchMeanRGB[rgb]) * 255 - Preprocessing.caffeMeanBGR[bgr]
    }

    private static func caffeToTorch(_ x: Float, _ rgb: Int) -> Float {
        let bgr = 2 - rgb
        return ((x + Preprocessing.caffeMeanBGR[bgr]) / 255 - Preprocessing.torchMeanRGB[rgb]) / Preprocessing.torchStdRGB[rgb]
    }

    private static func rawToCaffe(_ x: Float, _ bgr: Int) -> Float { x - Preprocessing.caffeMeanBGR[bgr] }

    private static func rawToTorch(_ x: Float, _ rgb: Int) -> Float {
        (x / 255 - Preprocessing.torchMeanRGB[rgb]) / Preprocessing.torchStdRGB[rgb]
    }
}
