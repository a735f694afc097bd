import Foundation
import ArgumentParser
import VGGConvKit
import FileIO
import VGGCore

extension SummaryReport.Style: ExpressibleByArgument {}

extension VGGConv {
    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a Keras-style model summary of any weight file or Keras architecture JSON.",
            discussion: """
            Reads metadata only (HDF5 attributes and shapes, the pickle without its storages, the native \
            header), so it answers in milliseconds without TensorFlow or PyTorch. For PyTorch files the \
            rows carry canonical Keras-style names with the PyTorch module path beside them. Parameter \
            counts, output shapes and MACs are derived from the file.
            """)

        @Argument(help: "A .h5, .keras, .pth, .vggw file or a Keras architecture JSON (model.to_json()).", completion: .file())
        var file: String

        @Option(help: "A Keras architecture JSON giving the layers of a weights-only .h5.", completion: .file(extensions: ["json"]))
        var config: String?

        @Option(help: "The input shape as H,W,C (default: the file's own, else derived from the first Dense after Flatten, else 224,224,3).",
                transform: { text in
                    let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                    guard parts.count == 3, parts.allSatisfy({ (1...LayerSchema.Limit.spatialSide).contains($0 ?? 0) }) else {
                        throw ValidationError("--input-shape needs three integers H,W,C from 1 to \(LayerSchema.Limit.spatialSide), e.g. 224,224,3; got '\(text)'")
                    }
                    return parts.map { $0! }
                })
        var inputShape: [Int]?

        @Option(help: "Imitate Keras 3's table (keras3) or tf-keras's plain table (keras2); default: the style of the Keras that wrote the file (keras3 for PyTorch and native files).")
        var style: SummaryReport.Style?

        @Option(help: PoolChoice.help)
        var pool: PoolChoice?

        @Flag(help: "List the layers inside nested models (a VGG16 base inside a Sequential), as Keras's expand_nested=True does.")
        var expand = false

        @Flag(help: "Print the rows as JSON, with MACs per layer, activation memory and parameter bytes by dtype.")
        var json = false

        @OptionGroup var threads: ThreadsOption

        func run() throws {
            threads.apply()
            let summary = try Summarizer.summary(path: file, configPath: config, inputShape: inputShape, globalPool: pool?.layerType)
            print(json ? try SummaryReport.json(summary)
                  : SummaryReport.text(summary, style: style ?? SummaryReport.style(forFormat: summary.format), expand: expand))
        }
    }
}
