import Foundation
import Imaging
import FileIO
import VGGCore

/// `vggconv evaluate`: accuracy of a classifier over a labelled folder (one subfolder per class, as
/// Keras's `image_dataset_from_directory` and torchvision's `ImageFolder` read them), with the
/// framework's own preprocessing.
public enum ImageEvaluation {
    /// One class's share of the folder.
    public struct ClassResult: Codable, Sendable {
        public var name: String
        /// The model output this class is (its position in sorted folder order, or in `--labels`).
        public var index: Int
        public var n: Int
        public var correct: Int
        public var accuracy: Double?
    }

    /// An image whose top class is not its folder's.
    public struct Miss: Codable, Sendable {
        public var file: String
        public var trueClass: String
        public var predicted: String
        public var probability: Float
    }

    public struct Report: Codable, Sendable {
        public var n: Int
        public var top1: Double
        /// Top-k accuracy, when the model has more than k classes.
        public var topK: Double?
        public var k: Int
        /// The folder's classes, in the order of the confusion matrix's rows and columns.
        public var classes: [String]
        public var perClass: [ClassResult]
        /// Counts: rows are the true classes, columns the predicted ones; a last column `other` counts
        /// predictions outside the folder's classes when the model has more outputs than the folder.
        public var confusion: [[Int]]
        public var otherColumn: Bool
        public var misclassified: [Miss]
        /// Files in class folders that are not JPEG or PNG images, left out as the frameworks' readers do.
        public var skipped: Int
    }

    /// The class folders of `directory` in sorted order and their image files (sorted), as
    /// (path, class position) pairs; other files (and images that are not regular files: a FIFO named
    /// x.jpg) are counted in `skipped`.
    /// - Throws: `RequestError.labelledFolder` when `directory` has no class folder or no image.
    public static func folder(_ directory: String) throws -> (classes: [String], files: [(path: String, label: Int)], skipped: Int) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RequestError.labelledFolder(path: directory, problem: .notADirectory)
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let classes = entries.filter { name in
            var folder: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(directory)/\(name)", isDirectory: &folder) && folder.boolValue
        }
        guard !classes.isEmpty else {
            throw RequestError.labelledFolder(path: directory, problem: .noClassFolders)
        }
        var files: [(path: String, label: Int)] = []
        var skipped = 0
        for (label, name) in classes.enumerated() {
            let folder = "\(directory)/\(name)"
            for file in try FileManager.default.contentsOfDirectory(atPath: folder).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                var nested: ObjCBool = false
                guard FileManager.default.fileExists(atPath: "\(folder)/\(file)", isDirectory: &nested), !nested.boolValue else { continue }
                if ImageDecoder.extensions.contains((file as NSString).pathExtension.lowercased()), ImageInputs.notRegular("\(folder)/\(file)") == nil {
                    files.append(("\(folder)/\(file)", label))
                } else {
                    skipped += 1
                }
            }
        }
        guard !files.isEmpty else { throw RequestError.labelledFolder(path: directory, problem: .noImages) }
        return (classes, files, skipped)
    }

    /// Evaluates `model` on the labelled folder `directory`. `labels` names the model's outputs (a folder
    /// then maps to the output of the same name); without it the k-th folder is output k.
    /// - Throws: folder, decoding and model errors; `RequestError.labelledFolder` when the folders and the
    ///   model's classes do not correspond.
    public static func evaluate(model: NativeFile, directory: String, labels: ImagePrediction.Labels?, top: Int, flip: Bool,
                                preprocessing: Preprocessing?, size: [Int]?, progress: ((Int, Int) -> Void)? = nil) throws -> Report {
        try tally(model: model, directory: directory, labels: labels, top: top, flip: flip, preprocessing: preprocessing, size: size,
                  progress: progress).tally.report
    }

    /// The counts behind a report, which add up across shards (`Tally.add`); with `shard`, over that
    /// shard's slice of the folder's images only, and the part that says which.
    public static func tally(model: NativeFile, directory: String, labels: ImagePrediction.Labels?, top: Int, flip: Bool,
                             preprocessing: Preprocessing?, size: [Int]?, shard: Shard? = nil,
                             progress: ((Int, Int) -> Void)? = nil) throws -> (tally: Tally, part: ShardPart?) {
        let (classes, allFiles, skipped) = try folder(directory)
        var inputs = try ImageInputs(allFiles.map(\.path), model: model, preprocessing: preprocessing, size: size)
        var files = allFiles
        var part: ShardPart?
        if let shard {
            (inputs, part) = inputs.sharded(shard, kind: .evaluate, model: model,
                                            settings: ["top": "\(top)", "flip": "\(flip)", "labels": ImagePrediction.Labels.setting(labels),
                                                       "classes": classes.joined(separator: "/")])
            files = Array(allFiles[shard.range(of: allFiles.count)])
        }
        var outputIndex: [Int] = []
        var confusion: [[Int]] = []
        var topHits = 0, done = 0
        var misses: [Miss] = []
        var outputNames: [String] = []
        var otherColumn = false
        try ImagePrediction.probabilities(model: model, inputs: inputs, flip: flip, prepare: { outputs in
            if let labels, let names = try labels.names(classes: outputs) {
                outputIndex = try classes.map { name in
                    guard let index = names.firstIndex(of: name) else {
                        throw RequestError.labelledFolder(path: "\(directory)/\(name)", problem: .unknownClass(folder: name))
                    }
                    return index
                }
                outputNames = names
            } else {
                guard classes.count == outputs else {
                    throw RequestError.labelledFolder(path: directory, problem: .classCount(folders: classes.count, classes: outputs))
                }
                outputIndex = Array(0..<outputs)
                outputNames = classes
            }
            otherColumn = outputs > classes.count
            confusion = Array(repeating: Array(repeating: 0, count: classes.count + (otherColumn ? 1 : 0)), count: classes.count)
        }) { index, row in
            let truth = files[index].label
            let ranked = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let predicted = ranked[0]
            let column = outputIndex.firstIndex(of: predicted) ?? classes.count
            confusion[truth][column] += 1
            if ranked.prefix(top).contains(outputIndex[truth]) { topHits += 1 }
            if predicted != outputIndex[truth] {
                misses.append(Miss(file: files[index].path, trueClass: classes[truth], predicted: outputNames[predicted], probability: row[predicted]))
            }
            done += 1
            if done % ImageInputs.batch == 0 || done == files.count { progress?(done, files.count) }
        }
        let tally = Tally(classes: classes, outputIndex: outputIndex, outputs: outputNames.count, k: top, confusion: confusion,
                          topHits: topHits, misses: misses, otherColumn: otherColumn, skipped: skipped)
        return (tally, part)
    }

    /// The counts an evaluation makes. Shards' tallies add up (`add`) to one process's, and the report
    /// is computed from the counts alone, so a merged report equals one process's exactly.
    public struct Tally: Codable, Sendable {
        public var classes: [String]
        /// The model output each class is.
        public var outputIndex: [Int]
        public var outputs: Int
        public var k: Int
        public var confusion: [[Int]]
        /// Images whose class is among the top k.
        public var topHits: Int
        public var misses: [Miss]
        public var otherColumn: Bool
        public var skipped: Int

        /// Adds a later shard's counts (the same classes and outputs: `ShardPart.ordered` checks the settings).
        public mutating func add(_ other: Tally) {
            if confusion.isEmpty {  // an empty shard (more shards than images) has seen no class yet
                let (hits, missed) = (topHits, misses)
                self = other
                (topHits, misses) = (hits + other.topHits, missed + other.misses)
                return
            }
            for row in confusion.indices where row < other.confusion.count {
                for column in confusion[row].indices where column < other.confusion[row].count {
                    confusion[row][column] += other.confusion[row][column]
                }
            }
            topHits += other.topHits
            misses += other.misses
        }

        public var report: Report {
            let n = confusion.reduce(0) { $0 + $1.reduce(0, +) }
            let perClass = classes.indices.map { c -> ClassResult in
                let count = confusion[c].reduce(0, +)
                return ClassResult(name: classes[c], index: outputIndex[c], n: count, correct: confusion[c][c],
                                   accuracy: count == 0 ? nil : Double(confusion[c][c]) / Double(count))
            }
            let correct = classes.indices.reduce(0) { $0 + confusion[$1][$1] }
            return Report(n: n, top1: Double(correct) / Double(n), topK: outputs > k ? Double(topHits) / Double(n) : nil, k: k,
                          classes: classes, perClass: perClass, confusion: confusion, otherColumn: otherColumn, misclassified: misses,
                          skipped: skipped)
        }
    }

    /// The report as text: accuracy, per-class accuracy, the confusion matrix, the misclassified files.
    public static func text(_ report: Report) -> String {
        func percent(_ value: Double) -> String { String(format: "%.2f%%", 100 * value) }
        var lines = ["images: \(report.n) in \(report.classes.count) classes" + (report.skipped > 0 ? " (\(report.skipped) other files skipped)" : ""),
                     "top-1 accuracy: \(percent(report.top1))"]
        if let topK = report.topK { lines.append("top-\(report.k) accuracy: \(percent(topK))") }
        lines.append("")
        let width = max(5, report.classes.map { SafeText.oneLine($0).count }.max() ?? 0)
        func pad(_ text: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - text.count)) + text }
        lines.append(pad("class", width) + "  images  correct  accuracy")
        for c in report.perClass {
            lines.append(pad(SafeText.oneLine(c.name), width) + pad(String(c.n), 8) + pad(String(c.correct), 9) + pad(c.accuracy.map(percent) ?? "-", 10))
        }
        lines.append("")
        lines.append("confusion matrix (rows: true class, columns: predicted)")
        let columns = report.classes.map(SafeText.oneLine) + (report.otherColumn ? ["other"] : [])
        let cell = max(6, (report.confusion.flatMap { $0 }.map { String($0).count }.max() ?? 1) + 2)
        let headers = columns.indices.map { pad("[\($0)]", cell) }.joined()
        lines.append(pad("", width + 6) + headers)
        for (r, row) in report.confusion.enumerated() {
            lines.append(pad(columns[r], width) + pad("[\(r)]", 6) + row.map { pad(String($0), cell) }.joined())
        }
        if !report.misclassified.isEmpty {
            lines.append("")
            lines.append("misclassified (\(report.misclassified.count)):")
            for miss in report.misclassified {
                lines.append(String(format: "  %@: %@ -> %@ %.4f", SafeText.oneLine(miss.file), SafeText.oneLine(miss.trueClass),
                                    SafeText.oneLine(miss.predicted), miss.probability))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The confusion matrix as a picture: one square per cell, darker for a larger share of its row,
    /// the diagonal in green, errors in red.
    public static func confusionPicture(_ report: Report, cell: Int = 24) -> RGBImage {
        let rows = report.confusion.count, columns = report.confusion.first?.count ?? 0
        let side = max(4, min(cell, 2048 / max(rows, columns, 1)))
        var image = RGBImage(width: columns * side, height: rows * side, pixels: [UInt8](repeating: 255, count: columns * side * rows * side * 3))
        for (r, row) in report.confusion.enumerated() {
            let total = max(1, row.reduce(0, +))
            for (c, count) in row.enumerated() {
                let share = Double(count) / Double(total)
                let fade = UInt8(255 - Int(share * 215))
                let color: [UInt8] = r == c ? [fade, 255 - UInt8(share * 80), fade] : [255 - UInt8(share * 80), fade, fade]
                for y in (r * side + 1)..<((r + 1) * side - 1) {
                    for x in (c * side + 1)..<((c + 1) * side - 1) {
                        let offset = (y * image.width + x) * 3
                        image.pixels[offset..<(offset + 3)] = color[...]
                    }
                }
            }
        }
        return image
    }
}
