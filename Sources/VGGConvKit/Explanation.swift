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
    /// `[103.939, 116.779, 123.68]`: a constant list as Python writes it, for advice.
    static func list(_ values: [Float]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }

    /// One candidate cause and how the comparison went under it.
    public struct Candidate: Sendable {
        /// What would be wrong, in the user's terms.
        public var cause: String
        /// The flag or change that fixes it.
        public var fix: String
        public var verification: Verification
        public var passes: Bool { verification.passed }
        /// The worst sample's cosine similarity under this candidate.
        public var cosine: Float { verification.samples.map(\.cosineSimilarity).min() ?? 0 }
    }

    /// A single-cause change to try.
    private struct Trial {
        var cause: String
        var fix: String
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
            trials.append(Trial(cause: "the golden holds logits but the model ends in softmax", fix: "add --logits",
                                variant: RunVariant(logits: true)))
        }
        if !endsInSoftmax(layers) || variant.logits {
            trials.append(Trial(cause: "the golden holds probabilities (softmax applied) but the model outputs logits",
                                fix: "compare with the framework's logits (its output before softmax), or apply softmax to vggconv's output",
                                output: softmax))
        }
        let shapes = "\(layout == .nchw ? "N,C,H,W" : "N,H,W,C")"
        trials.append(Trial(cause: "the input's values are in \(layout == .nchw ? "N,H,W,C" : "N,C,H,W") order though its shape reads \(shapes) (reshaped instead of transposed)",
                            fix: layout == .nchw ? "save x.transpose(0, 3, 1, 2) instead of a reshape, or save it N,H,W,C and pass --input-layout nhwc"
                                : "save x.transpose(0, 2, 3, 1) instead of a reshape, or save it N,C,H,W and pass --input-layout nchw",
                            input: { values, shape, batch in
                                Layout.permute(values, batch: batch, c: shape[0], h: shape[1], w: shape[2], toChannelsLast: layout == .nhwc)
                            }))
        if prepared.sampleShape[0] == 3 {
            trials.append(Trial(cause: "the input's channels are in the other order (RGB vs BGR)",
                                fix: "reverse the channel axis of the input (Keras's 'caffe' VGG takes BGR, torchvision RGB)",
                                input: { values, shape, batch in reverseChannels(values, shape, batch) }))
            // (cause, fix, whether RGB and BGR swap, the value in its new channel); constants from Preprocessing.
            let (caffeMean, torchMean, torchStd) = (Self.list(Preprocessing.caffeMeanBGR), Self.list(Preprocessing.torchMeanRGB),
                                                    Self.list(Preprocessing.torchStdRGB))
            let conversions: [(String, String, Bool, (Float, Int) -> Float)] = [
                ("the input was normalised the torchvision way (RGB, mean/std) but the model expects Keras's 'caffe' preprocessing",
                 "preprocess with keras.applications.vgg16.preprocess_input (BGR, minus \(caffeMean))", true, torchToCaffe),
                ("the input was preprocessed the Keras 'caffe' way (BGR, mean subtracted) but the model expects torchvision's normalisation",
                 "preprocess with torchvision's Normalize(mean=\(torchMean), std=\(torchStd)) on RGB in 0-1", true, caffeToTorch),
                ("the input is raw 0-255 RGB but the model expects Keras's 'caffe' preprocessing",
                 "preprocess with keras.applications.vgg16.preprocess_input", true, rawToCaffe),
                ("the input is raw 0-255 RGB but the model expects torchvision's normalisation",
                 "divide by 255 and normalise with mean \(torchMean), std \(torchStd)", false, rawToTorch),
            ]
            for (cause, fix, swaps, convert) in conversions {
                trials.append(Trial(cause: cause, fix: fix, input: { values, shape, batch in
                    perChannel(values, shape, batch, swappingRGB: swaps, convert)
                }))
            }
        }
        if layers.contains(where: { $0.type == .batchNormalization }) {
            let (keras, torch) = (SourceFramework.keras.batchNormEpsilon, SourceFramework.pytorch.batchNormEpsilon)
            for epsilon in [keras, torch] where layers.contains(where: { $0.type == .batchNormalization && ($0.config.epsilon ?? LayerSchema.Default.batchNormEpsilon) != epsilon }) {
                trials.append(Trial(cause: "BatchNormalization epsilon should be \(epsilon) (Keras's default is \(keras), PyTorch's \(torch))",
                                    fix: "convert with the source's epsilon: give the Keras config that records it, or fix the layer's epsilon in the source",
                                    variant: RunVariant(batchNormEpsilon: epsilon)))
            }
        }
        if let flatten = layers.firstIndex(where: { $0.type == .flatten }), layers[flatten...].contains(where: { $0.type == .dense }),
           (flatten == 0 ? prepared.file.header.architecture.inputShape : layers[flatten - 1].outputShape).count == 3 {
            trials.append(Trial(cause: "the first Dense after Flatten has its input rows in Keras's H,W,C order (the Flatten permutation was not applied)",
                                fix: "convert the Keras file with vggconv (it reorders fc1's rows), or reorder the rows to C,H,W yourself",
                                variant: RunVariant(firstDenseColumnsFromHWC: true)))
            trials.append(Trial(cause: "the first Dense after Flatten had the Flatten permutation applied twice or to a channels-first model",
                                fix: "convert without reordering fc1's rows (a channels-first Keras model flattens in C,H,W order already)",
                                variant: RunVariant(firstDenseColumnsFromHWC: false)))
        }
        return try trials.map { trial in
            var run = trial.variant
            run.logits = run.logits || variant.logits
            let input = trial.input.map { $0(prepared.values, prepared.sampleShape, prepared.batch) }
            var output = try prepared.run(run, input: input)
            if let transform = trial.output { output = transform(output) }
            let verification = try Verification.compare(output: output, golden: golden, goldenPath: goldenPath, atol: atol, rtol: rtol)
            return Candidate(cause: trial.cause, fix: trial.fix, verification: verification)
        }.sorted { $0.passes && !$1.passes }
    }

    /// The report `verify --explain` prints after the comparison.
    public static func report(_ candidates: [Candidate]) -> String {
        let passing = candidates.filter(\.passes)
        var lines = [passing.isEmpty
            ? "explain: none of the \(candidates.count) known causes makes it pass; the closest:"
            : "explain: passes when \(passing.count == 1 ? "one cause is" : "\(passing.count) causes are") assumed:"]
        let shown = passing.isEmpty ? Array(candidates.sorted { $0.cosine > $1.cosine }.prefix(3)) : passing
        for candidate in shown {
            let worst = candidate.verification.samples.map(\.maxRelativeError).max() ?? .nan
            lines.append(String(format: "  %@  %@ (worst relative error %.2e, cosine %.6f)", candidate.passes ? "PASS" : "fail",
                                candidate.cause, worst, candidate.cosine))
            if candidate.passes { lines.append("        fix: \(candidate.fix)") }
        }
        let rest = candidates.count - shown.count
        if rest > 0 { lines.append("  (\(rest) other candidate\(rest == 1 ? "" : "s") tried: \(candidates.filter { c in !shown.contains { $0.cause == c.cause } }.map(\.cause).joined(separator: "; ")))") }
        return lines.joined(separator: "\n")
    }

    /// A one-line hint for a failed comparison when the outputs alone show the cause (softmax vs logits),
    /// with no extra forward pass.
    public static func hint(output: NpyArray, golden: NpyArray) -> String? {
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
        case (true, false): return "hint: the model ends in softmax and the golden looks like logits: try --logits (or --explain)"
        case (false, true): return "hint: the golden looks like probabilities and the model outputs logits: compare with the framework's logits (or --explain)"
        default: return nil
        }
    }

    /// A hint for a failed comparison of a model that stores 16-bit weights, against goldens the framework
    /// computed in float32: when every sample keeps its top-5 and the worst error is no more than what
    /// rounding weights to 16 bits costs (1e-2 of max|golden| for float16, 5e-2 for bfloat16), it names the
    /// dtype and the tolerance that passes. Reads only the model's tensor list.
    public static func precisionHint(model: String, verification: Verification) -> String? {
        let samples = verification.samples
        guard !verification.passed, !samples.isEmpty,
              samples.allSatisfy({ $0.nonFiniteValues == 0 && $0.top1Agrees != false && $0.top5Agrees != false }),
              let dtypes = (try? TensorInventory.of(path: model)).map({ Set($0.tensors.map(\.dtype)) }),
              let stored = [DType.bfloat16, .float16].first(where: dtypes.contains) else { return nil }
        let worst = samples.map(\.maxRelativeError).max() ?? .infinity
        guard worst > 0, worst <= (stored == .bfloat16 ? 5e-2 : 1e-2) else { return nil }
        let rtol = Float(pow(10, (log10(Double(worst)) + 1e-6).rounded(.up)))
        return String(format: "hint: the model stores %@ weights, and rounding float32 weights to 16 bits costs about this much "
                      + "(worst %.2e of max|golden|, top-5 identical): against float32 goldens use --rtol %g", stored.rawValue, worst, rtol)
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
