import ArgumentParser
import VGGConvKit

extension VGGConv {
    struct Torch2Native: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "torch2native",
            abstract: "Convert a PyTorch state_dict or checkpoint (.pth/.pt) to a native .vggw file.",
            discussion: """
            Reads torch.save zip files and the pre-1.6 legacy format without executing the pickle: only \
            tensor constructors and containers are honoured, any other global is refused by name. \
            Checkpoints holding the weights under 'state_dict', 'model', … and DataParallel 'module.' \
            prefixes are handled. torchvision VGG11-19 (with or without BatchNorm, any head) and plain \
            nn.Sequential VGG-style stacks are recognised from their keys and shapes.
            """)

        @Argument(help: "The PyTorch file to convert.", completion: .file(extensions: ["pth", "pt"]))
        var input: String

        @OptionGroup var output: OutputOptions

        @Option(help: "Fail unless the file holds this torchvision architecture (vgg11, vgg13, vgg16, vgg19, with _bn).")
        var arch: String?

        @Option(help: PoolChoice.help)
        var pool: PoolChoice?

        @OptionGroup var threads: ThreadsOption

        func run() throws {
            threads.apply()
            let progress = ProgressBar(label: "converting")
            var options = ConversionOptions(output: output.output, dtype: output.dtype?.dtype, overwrite: output.force)
            options.globalPool = pool?.layerType
            let result = try Converter.torchToNative(input: input, options: options, architecture: arch, progress: progress.update)
            progress.finish()
            printAssumptions(result.assumptions)
            print(ConversionReport.text(result))
        }
    }
}
