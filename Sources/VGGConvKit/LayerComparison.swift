import Foundation
import Inference
import FileIO
import VGGCore

/// `verify --layers GOLDEN.npz`: every layer's activations from the framework (scripts/reference/dump_layers_*.py)
/// against the engine's, layer by layer, naming the first that diverges. Keys are matched to layers by
/// canonical name or source name (Keras layer name, PyTorch module path); maps may be NCHW or NHWC.
public enum LayerComparison {
    /// One golden array and what became of it.
    public struct Row: Sendable {
        public var key: String
        /// The canonical name of the layer it was matched to.
        public var layer: String?
        /// Set when compared.
        public var maxAbsoluteError: Float?
        public var maxRelativeError: Float?
        public var cosine: Float?
        public var passed: Bool?
        /// Why it was not compared.
        public var skipped: String?
    }

    /// Runs `model` on every sample of `input`, keeping each step's output, and compares with `golden`.
    /// - Throws: loading errors, or `VGGError.badNpy` when an array's batch differs from the input's.
    /// `reading` says how to read a weights-only or ambiguous `model` (its Keras config, a head's global pooling).
    public static func compare(model: String, reading: ReadOptions = ReadOptions(), input: String, layout: TensorLayoutChoice, variant: RunVariant,
                               golden goldenPath: String, atol: Float, rtol: Float) throws -> [Row] {
        let prepared = try PreparedInput(model: try ModelOpener.native(model, reading: reading), input: input, layout: layout)
        var everyLayer = variant
        everyLayer.poolsInConvolution = false  // each pool's input is a layer output too
        let engine = try InferenceEngine(file: prepared.file, inputShape: prepared.sampleShape, variant: everyLayer)
        let sampleSize = ShapeMath.elementCount(prepared.sampleShape) ?? 0
        let activations = (0..<prepared.batch).map { n in
            engine.activations(Array(prepared.values[(n * sampleSize)..<((n + 1) * sampleSize)]))
        }
        let shapes = engine.stepCoverage.map { engine.layers[$0.upperBound - 1].outputShape }
        let arrays = try NpyArray.readArchive(path: goldenPath)
        // Maps whose sides are all equal fit both layouts: they take the layout the file's other maps show.
        let channelsLast = mapLayout(arrays, engine: engine) ?? (layout == .nhwc)
        return try arrays.map { key, array in
            var row = Row(key: key)
            guard let index = engine.layers.firstIndex(where: { $0.name == key || $0.sourceName == key }) else {
                row.skipped = "no layer of this name (an activation fused into the layer before it, or a layer vggconv does not keep)"
                return row
            }
            let layer = engine.layers[index]
            row.layer = layer.name
            guard let step = engine.stepCoverage.lastIndex(where: { $0.contains(index) }) else {  // a softmax is its own step
                row.skipped = "identity at inference (\(layer.type.rawValue)): nothing computed"
                return row
            }
            guard engine.stepCoverage[step].upperBound - 1 == index else {
                let last = engine.layers[engine.stepCoverage[step].upperBound - 1].name
                row.skipped = "fused with the layers after it; compared where the fused step ends (\(last))"
                return row
            }
            guard array.shape.first == prepared.batch else {
                throw VGGError.badNpy(path: "\(goldenPath): \(key)", reason: "has \(array.shape.first ?? 0) samples but the input has \(prepared.batch)")
            }
            guard var values = try? Prediction.floats(array, path: key),
                  let width = nchw(&values, array.shape, expected: shapes[step], preferChannelsLast: channelsLast) else {
                row.skipped = "shape \(array.shape) is neither (N, \(shapes[step].map(String.init).joined(separator: ", "))) nor channels-last"
                return row
            }
            // A framework that keeps the activation as its own module records this layer before it.
            if layer.config.activation == "relu" { values = values.map { max($0, 0) } }
            var worst = (absolute: Float(0), relative: Float(0), cosine: Float(1), passed: true)
            for n in 0..<prepared.batch {
                let expected = Array(values[(n * width)..<((n + 1) * width)])
                let actual = activations[n][step]
                var stats = ModelDiff.Statistics()
                actual.withUnsafeBufferPointer { a in expected.withUnsafeBufferPointer { stats.add(a, $0) } }
                let relative = stats.scale > 0 ? stats.maxAbsolute / stats.scale : stats.maxAbsolute
                worst.absolute = max(worst.absolute, stats.nonFinite > 0 ? .infinity : stats.maxAbsolute)
                worst.relative = max(worst.relative, relative)
                worst.cosine = min(worst.cosine, stats.cosine)
                worst.passed = worst.passed && stats.nonFinite == 0 && stats.maxAbsolute <= atol + rtol * stats.scale
            }
            (row.maxAbsoluteError, row.maxRelativeError, row.cosine, row.passed) = worst
            return row
        }
    }

    /// True when the file's unambiguous maps are channels-last, false when channels-first, nil when none tells.
    private static func mapLayout(_ arrays: [(name: String, array: NpyArray)], engine: InferenceEngine) -> Bool? {
        var votes = (first: 0, last: 0)
        for (key, array) in arrays where array.shape.count == 4 {
            guard let index = engine.layers.firstIndex(where: { $0.name == key || $0.sourceName == key }) else { continue }
            let expected = engine.layers[index].outputShape, sample = Array(array.shape.dropFirst())
            guard expected.count == 3 else { continue }
            let last = [expected[1], expected[2], expected[0]]
            if sample == expected && sample != last { votes.first += 1 }
            if sample == last && sample != expected { votes.last += 1 }
        }
        return votes.first == votes.last ? nil : votes.last > votes.first
    }

    /// Brings a golden array to NCHW sample order; returns the per-sample size, nil when the shape fits neither layout.
    private static func nchw(_ values: inout [Float], _ shape: [Int], expected: [Int], preferChannelsLast: Bool) -> Int? {
        let sample = Array(shape.dropFirst())
        let size = ShapeMath.elementCount(expected) ?? 0
        guard expected.count == 3 else { return sample == expected ? size : nil }
        let channelsLast = [expected[1], expected[2], expected[0]]
        let isFirst = sample == expected, isLast = sample == channelsLast
        guard isFirst || isLast else { return nil }
        if isLast && (!isFirst || preferChannelsLast) {
            values = Layout.permute(values, batch: shape[0], c: expected[0], h: expected[1], w: expected[2], toChannelsLast: false)
        }
        return size
    }

    /// A table of the compared layers, the skipped keys, and the first divergence.
    public static func report(_ rows: [Row], atol: Float, rtol: Float) -> (text: String, passed: Bool) {
        var lines = ["layer                          golden key            max abs err   max rel err   cosine      verdict"]
        for row in rows where row.passed != nil {
            // Padded here (Foundation's %-30@ does not pad on Linux); keys come from the .npz: escaped.
            func cell(_ text: String, _ width: Int) -> String {
                let shown = String(SafeText.oneLine(text).prefix(width))
                return shown + String(repeating: " ", count: width - shown.count)
            }
            lines.append(cell(row.layer ?? "", 30) + " " + cell(row.key, 20) + String(format: " %12.3e  %12.3e  %.8f  ",
                         row.maxAbsoluteError ?? .nan, row.maxRelativeError ?? .nan, row.cosine ?? .nan) + (row.passed == true ? "ok" : "DIFF"))
        }
        let skipped = rows.filter { $0.passed == nil }
        if !skipped.isEmpty {
            lines.append("not compared: " + skipped.map { "\(SafeText.quote($0.key)) (\($0.skipped ?? ""))" }.joined(separator: "; "))
        }
        let compared = rows.filter { $0.passed != nil }
        guard !compared.isEmpty else {
            let hint = "FAIL: no golden array matched a layer: keys must be this model's layer names (Keras), module paths (PyTorch, e.g. features.0) or canonical names (block1_conv1, fc1)"
            return ((lines + [hint]).joined(separator: "\n"), false)
        }
        if let first = compared.first(where: { $0.passed == false }) {
            lines.append("FAIL: first divergence at layer \(SafeText.quote(first.layer ?? first.key)) (golden key \(SafeText.quote(first.key))): max relative error \(String(format: "%.3e", first.maxRelativeError ?? .nan)), beyond |err| <= \(atol) + \(rtol) x max|golden|; the layers before it agree")
            return (lines.joined(separator: "\n"), false)
        }
        lines.append("PASS: \(compared.count) layers within |err| <= \(atol) + \(rtol) x max|golden|")
        return (lines.joined(separator: "\n"), true)
    }
}
