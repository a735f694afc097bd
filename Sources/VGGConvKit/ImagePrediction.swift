import Foundation
import Imaging
import Inference
import FileIO
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
                    throw RequestError.notImageNetClasses(classes: classes)
                }
                return ImageNetLabels.names
            case .file(let path):
                let names = try Self.readLabels(path: path)
                guard names.count == classes else {
                    throw RequestError.labelCount(path: path, labels: names.count, classes: classes)
                }
                return names
            case .none:
                return nil
            }
        }

        /// How a shard's part records the choice (parts of one run must agree on it).
        public static func setting(_ labels: Labels?) -> String {
            switch labels {
            case .file(let path)?: return "file:" + path
            case .imagenet?: return "imagenet"
            case .none?: return "none"
            case nil: return "default"
            }
        }

        /// Labels files larger than this are refused before reading (ImageNet's 1000 names take 21 KB).
        public static let maximumBytes = 16 << 20
        /// Lines a labels file may have (a model has at most `LayerSchema.Limit.units` outputs, and a
        /// million names is more than any classifier published).
        public static let maximumLines = 1 << 20

        /// One label per line (`\n`, or `\r\n`), UTF-8, a final newline optional. A blank line or a line
        /// holding a control character (a U+2028 line separator, an escape) would shift or forge labels:
        /// refused, naming it; so is a file over `maximumBytes` or `maximumLines` (before it is split).
        public static func readLabels(path: String) throws -> [String] {
            try readLabels(file: try MappedFile(path: path, role: .labels))
        }

        /// `readLabels(path:)` of a file already mapped, or bytes in memory.
        public static func readLabels(file: MappedFile) throws -> [String] {
            let path = file.path
            guard file.count <= maximumBytes else {
                throw RequestError.labelsFile(path: path, problem: .tooLarge(bytes: file.count, limit: maximumBytes))
            }
            let bytes = file.contents()
            let newlines = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            guard newlines <= maximumLines else {
                throw RequestError.labelsFile(path: path, problem: .tooManyLines(lines: newlines, limit: maximumLines))
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                let line = Self.firstLineNotUTF8(bytes)
                throw RequestError.labelsFile(path: path, problem: .notUTF8(line: line))
            }
            // "\r\n" is one Character in Swift: both line ends are separators.
            var lines = text
                .split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            if lines.last?.isEmpty == true { lines.removeLast() }
            return try lines.enumerated().map { index, line in
                let label = line.trimmingCharacters(in: .whitespaces)
                guard !label.isEmpty else {
                    throw RequestError.labelsFile(path: path, problem: .blank(line: index + 1))
                }
                guard SafeText.oneLine(label) == label else {
                    throw RequestError.labelsFile(path: path, problem: .controlCharacter(line: index + 1, text: label))
                }
                return label
            }
        }

        /// The 1-based line holding the first bytes that are not valid UTF-8.
        static func firstLineNotUTF8(_ bytes: Data) -> Int {
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
            return (lines.firstIndex { String(validating: $0, as: UTF8.self) == nil } ?? lines.count - 1) + 1
        }
    }

    /// Classifies every image of `inputs` with `model`: probabilities (softmax applied when the model
    /// ends in logits; a single sigmoid output read as P(class 1) of two classes), averaged with the
    /// mirrored image's when `flip` is set.
    /// - Throws: decoding, model and label errors.
    /// `labels` nil: ImageNet's names for a model with 1000 outputs, class indices otherwise.
    public static func predict(model: NativeFile, inputs: ImageInputs, top: Int, labels: Labels?, flip: Bool,
                               progress: ((Int, Int) -> Void)? = nil) throws -> [Result] {
        var results: [Result] = []
        var names: [String]?
        try probabilities(model: model, inputs: inputs, flip: flip, prepare: { classes in
            names = try (labels ?? (classes == ImageNetLabels.names.count ? .imagenet : .none)).names(classes: classes)
        }) { index, row in
            let best = row.indices.sorted { row[$0] > row[$1] }.prefix(max(1, min(top, row.count)))
            results.append(Result(file: inputs.paths[index], top: best.map { Class(index: $0, label: names?[$0], probability: row[$0]) }))
            if results.count % ImageInputs.batch == 0 || results.count == inputs.paths.count { progress?(results.count, inputs.paths.count) }
        }
        return results
    }

    /// Runs every image of `inputs` in batches and hands each image's class probabilities to `body`, in
    /// order, holding one batch at a time. `prepare` gets the class count first (a sigmoid output is two
    /// classes). `flip` averages with the mirrored image's probabilities.
    /// - Throws: decoding and model errors, and whatever `prepare` or `body` throw.
    static func probabilities(model: NativeFile, inputs: ImageInputs, flip: Bool, prepare: (Int) throws -> Void = { _ in },
                              _ body: (Int, [Float]) throws -> Void) throws {
        let engine = try inputs.engine(model)
        guard engine.outputShape.count == 1 else {
            throw RequestError.notAClassifier(outputShape: engine.outputShape)
        }
        let outputs = engine.outputShape[0]
        let head = Head(layers: model.header.architecture.layers, outputs: outputs)
        let classes = head.classes(outputs: outputs)
        try prepare(classes)
        // Each image (and its mirror image) is decoded and preprocessed ahead, while the engine runs.
        try BatchPipeline.run(count: inputs.paths.count, batch: ImageInputs.batch, prepare: { index in
            (try inputs.tensor(index), flip ? try inputs.tensor(index, flipped: true) : [])
        }) { indices, tensors in
            var scores = try run(engine, tensors.flatMap(\.0), count: indices.count, outputs: outputs, head: head)
            if flip {
                let mirrored = try run(engine, tensors.flatMap(\.1), count: indices.count, outputs: outputs, head: head)
                scores = zip(scores, mirrored).map { ($0 + $1) / 2 }
            }
            for (offset, index) in indices.enumerated() {
                try body(index, Array(scores[(offset * classes)..<((offset + 1) * classes)]))
            }
        }
    }

    /// How a model's outputs become class probabilities.
    enum Head {
        /// The model ends in softmax: its outputs are the probabilities.
        case probabilities
        /// Logits of several classes: softmax them.
        case logits
        /// One output, a sigmoid's (a binary classifier: P(class 1)) or a single logit (sigmoid applied):
        /// two classes, P(class 0) = 1 − P(class 1).
        case binary(applySigmoid: Bool)

        init(layers: [NativeLayer], outputs: Int) {
            let last = layers.last { ![.dropout, .flatten].contains($0.type) }
            if outputs == 1 {
                self = .binary(applySigmoid: last?.config.activation != "sigmoid")
            } else {
                self = Explanation.endsInSoftmax(layers) ? .probabilities : .logits
            }
        }

        func classes(outputs: Int) -> Int {
            if case .binary = self { return 2 }
            return outputs
        }
    }

    /// Runs a batch and returns `head.classes` probabilities per sample.
    private static func run(_ engine: InferenceEngine, _ input: [Float], count: Int, outputs: Int, head: Head) throws -> [Float] {
        var output = engine.run(input, batch: count)
        switch head {
        case .probabilities:
            break
        case .logits:
            for start in stride(from: 0, to: output.count, by: outputs) {
                output.withUnsafeMutableBufferPointer { InferenceEngine.softmax($0.baseAddress! + start, outputs) }
            }
        case .binary(let applySigmoid):
            output = output.flatMap { value -> [Float] in
                let p = applySigmoid ? 1 / (1 + exp(-value)) : value
                return [1 - p, p]
            }
        }
        return output
    }

    /// One line per image: the file, then `class (probability)` for each of the top classes.
    public static func text(_ results: [Result]) -> String {
        results.map { result in
            // File names and labels come from the file system and from files: printed escaped.
            "\(SafeText.oneLine(result.file)): " + result.top.map { c in
                String(format: "%@ %.4f", c.label.map { "\(SafeText.oneLine($0)) (\(c.index))" } ?? "class \(c.index)", c.probability)
            }.joined(separator: ", ")
        }.joined(separator: "\n")
    }
}
