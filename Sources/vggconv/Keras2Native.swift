import ArgumentParser
import VGGConvKit

extension VGGConv {
    struct Keras2Native: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keras2native",
            abstract: "Convert a Keras .h5, .weights.h5 or .keras file to a native .vggw file.",
            discussion: """
            Reads every Keras flavour: tf-keras/Keras 2 save_weights .h5 (including the classic \
            Keras-1-era pretrained VGG16 files), Keras 2/3 model.save .h5, Keras 3 .weights.h5 (with \
            --config) and Keras 3 .keras archives. Kernels are transposed to OIHW and (out, in), and the \
            first Dense after Flatten gets its rows reordered to C,H,W flatten order.
            """)

        @Argument(help: "The Keras file to convert.", completion: .file(extensions: ["h5", "keras"]))
        var input: String

        @OptionGroup var output: OutputOptions

        @Option(help: "A Keras architecture JSON (model.to_json(), or a .keras archive's config.json) giving the layers of a weights-only file.",
                completion: .file(extensions: ["json"]))
        var config: String?

        @Option(help: "For a Keras 3 .weights.h5 saved without its config: the keras.applications architecture it holds (vgg11, vgg13, vgg16, vgg19, with _bn).")
        var arch: String?

        @OptionGroup var threads: ThreadsOption

        func run() throws {
            threads.apply()
            let progress = ProgressBar(label: "converting")
            let result = try Converter.kerasToNative(
                input: input,
                options: ConversionOptions(output: output.output, dtype: output.dtype?.dtype, overwrite: output.force, configPath: config),
                architecture: arch, progress: progress.update)
            progress.finish()
            print(ConversionReport.text(result))
        }
    }
}
