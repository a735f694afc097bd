import Foundation
import Imaging
import Inference
import VGGCore

/// `vggconv predict`: top-k classes of photos, as the framework would report them.
public enum ImagePrediction {
    public struct Class: Codable, Sendable {
        public var index: Int
        public var label: String?
        public var probability: Float
    }

    public struct Result: Codable, Sendable {
        public var file: String
        public var top: [Class]
    }

    /// Where class names come from.
    public enum Labels: Sendable {
        case imagenet
        case file(String)
        case none

        /// The names, checked against the model's class count.
        func names(classes: Int) throws -> [String]? {
            switch self {
            case .imagenet:
                guard classes == ImageNetLabels.names.count else {
                    throw CommandError.unsupported(path: "--labels imagenet", reason: "the model has \(classes) outputs, not ImageNet's 1000; pass --labels FILE (one name per line)")
                }
                return ImageNetLabels.names
            case .file(let path):
                let text = String(decoding: try MappedFile(path: path).contents(), as: UTF8.self)
                let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                guard names.count == classes else {
                    throw CommandError.unsupported(path: path, reason: "holds \(names.count) labels but the model has \(classes) outputs")
                }
                return names
            case .none:
                return nil
            }
        }
    }

    /// Classifies every image of `inputs` with `model`: probabilities (softmax applied when the model
    /// ends in logits), averaged with the mirrored image's when `flip` is set.
    /// - Throws: decoding, model and label errors.
    /// `labels` nil: ImageNet's names for a model with 1000 outputs, class indices otherwise.
    public static func predict(model: NativeFile, inputs: ImageInputs, top: Int, labels: Labels?, flip: Bool,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [Result] {
        let engine = try inputs.engine(model)
        guard engine.outputShape.count == 1 else {
            throw CommandError.unsupported(path: "model", reason: "outputs a \(engine.outputShape) map, not class scores; use features for feature maps")
        }
        let classes = engine.outputShape[0]
        let names = try (labels ?? (classes == ImageNetLabels.names.count ? .imagenet : .none)).names(classes: classes)
        let softmax = !Explanation.endsInSoftmax(model.header.architecture.layers)
        var results: [Result] = []
        for start in stride(from: 0, to: inputs.paths.count, by: ImageInputs.batch) {
            let indices = Array(start..<min(start + ImageInputs.batch, inputs.paths.count))
            var scores = try run(engine, indices.flatMap { try inputs.tensor($0) }, count: indices.count, classes: classes, softmax: softmax)
            if flip {
                let mirrored = try run(engine, indices.flatMap { try inputs.tensor($0, flipped: true) }, count: indices.count,
                                       classes: classes, softmax: softmax)
                scores = zip(scores, mirrored).map { ($0 + $1) / 2 }
            }
            for (offset, index) in indices.enumerated() {
                let row = Array(scores[(offset * classes)..<((offset + 1) * classes)])
                let best = row.indices.sorted { row[$0] > row[$1] }.prefix(max(1, min(top, classes)))
                results.append(Result(file: inputs.paths[index],
                                      top: best.map { Class(index: $0, label: names?[$0], probability: row[$0]) }))
            }
            progress?(results.count, inputs.paths.count)
        }
        return results
    }

    private static func run(_ engine: InferenceEngine, _ input: [Float], count: Int, classes: Int, softmax: Bool) throws -> [Float] {
        var output = engine.run(input, batch: count)
        if softmax {
            for start in stride(from: 0, to: output.count, by: classes) {
                output.withUnsafeMutableBufferPointer { InferenceEngine.softmax($0.baseAddress! + start, classes) }
            }
        }
        return output
    }

    /// One line per image: the file, then `class (probability)` for each of the top classes.
    public static func text(_ results: [Result]) -> String {
        results.map { result in
            "\(result.file): " + result.top.map { c in
                String(format: "%@ %.4f", c.label.map { "\($0) (\(c.index))" } ?? "class \(c.index)", c.probability)
            }.joined(separator: ", ")
        }.joined(separator: "\n")
    }
}
