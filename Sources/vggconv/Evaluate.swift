import ArgumentParser
import Foundation
import Imaging
import VGGConvKit
import FileIO
import VGGCore

extension VGGConv {
    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure a classifier's accuracy on a labelled folder of photos (one subfolder per class).",
            discussion: """
            Classes are the subfolders in sorted name order, as Keras's image_dataset_from_directory and \
            torchvision's ImageFolder assign them (the k-th folder is output k), or, with --labels FILE, the \
            output whose label is the folder's name. Prints top-1 (and top-k) accuracy, per-class accuracy, \
            the confusion matrix (rows: true class) and the misclassified files. Memory stays flat in the \
            number of images.
            """)

        @OptionGroup var options: ImageOptions

        @Argument(help: "The folder: one subfolder of .jpg/.jpeg/.png images per class.", completion: .directory)
        var directory: String

        @Option(help: "imagenet or a file with one label per model output; folders are then matched to outputs by name.")
        var labels: String?

        @Option(help: "Also report top-k accuracy (when the model has more than k classes).")
        var top = 5

        @Option(help: "Test-time augmentation: 'flip' averages each prediction with the mirrored image's.")
        var tta: Predict.TestTimeAugmentation?

        @Flag(help: "Print the report as JSON (n, top1, top_k, per_class, confusion, misclassified).")
        var json = false

        @Option(help: "Draw the confusion matrix into this PNG.")
        var png: String?

        @Flag(help: "Overwrite the PNG if it exists.")
        var force = false

        func validate() throws {
            guard (1...1000).contains(top) else { throw ValidationError("--top must be 1 to 1000") }
            guard options.shard == nil || (json && png == nil) else { throw ValidationError("--shard writes a part for merge: add --json (and draw --png after merging)") }
        }

        func run() throws {
            options.threads.apply()
            if let png { try Converter.checkOutput(png, inputs: [options.model, directory], overwrite: force) }
            let model = try ModelOpener.native(options.model, reading: options.modelArgument.reading)
            let progress = ProgressBar(label: "evaluating")
            let (tally, part) = try ImageEvaluation.tally(
                model: model, directory: directory, labels: labels.map { $0 == "imagenet" ? .imagenet : .file($0) }, top: top,
                flip: tta == .flip, preprocessing: options.preprocess, size: options.size, shard: try options.parsedShard(),
                progress: progress.update)
            progress.finish()
            if let part {
                print(try JSONOutput.text(EvaluationPart(part: part, tally: tally)))
                return
            }
            let report = tally.report
            if let png { try PNGWriter.write(ImageEvaluation.confusionPicture(report), to: png, overwrite: force) }
            print(json ? try JSONOutput.text(report) : ImageEvaluation.text(report))
        }
    }
}
