import ArgumentParser
import Foundation
import VGGConvKit

extension VGGConv {
    struct Convert: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Convert any model file vggconv reads to the format the output's extension names.",
            discussion: """
            Inputs: every Keras flavour (.h5, .weights.h5 with --config, .keras), PyTorch .pth/.pt (zip, \
            legacy, checkpoints), safetensors and .vggw. Outputs: .vggw; .pth/.pt as \
            torch.save(model.state_dict()) writes it (loads with torch.load(path, weights_only=True)): \
            torchvision's keys when the model is a torchvision VGG, otherwise nn.Sequential keys plus OUT.py, \
            the Python that builds the module; .safetensors; .onnx; Keras .h5 (full model, or with \
            --h5-content weights the save_weights layout), Keras 3 .weights.h5 and .keras.
            """)

        @Argument(help: "The model file to convert.", completion: .file())
        var input: String

        @Option(name: .shortAndLong, help: "The output file; its extension (.vggw, .pth, .pt) picks the format.")
        var output: String

        @Option(help: "Store floating-point tensors in this type (default: as stored in the source).")
        var dtype: DTypeChoice?

        @Option(help: "A Keras architecture JSON giving the layers of a weights-only Keras file.", completion: .file(extensions: ["json"]))
        var config: String?

        @Option(help: "vgg11 … vgg19 (with _bn): for PyTorch and safetensors inputs, fail unless the file holds it; for a Keras 3 .weights.h5 without config, the keras.applications layers it holds.")
        var arch: String?

        @Option(help: "ONNX only: the axis order the graph's input takes (nhwc adds a leading Transpose, for Keras-style inputs).")
        var inputLayout: TensorLayoutChoice = .nchw

        @Option(help: "Keras .h5 only: model (model_config + model_weights; load_model and load_weights both read it) or weights (the save_weights layout).")
        var h5Content: H5Content = .model

        @Option(help: PoolChoice.help)
        var pool: PoolChoice?

        @Flag(help: "Overwrite the output file(s) if they exist.")
        var force = false

        @OptionGroup var threads: ThreadsOption

        func run() throws {
            threads.apply()
            let progress = ProgressBar(label: "converting")
            var options = ConversionOptions(output: output, dtype: dtype?.dtype, overwrite: force, configPath: config)
            options.channelsLastInput = inputLayout == .nhwc
            options.kerasWeightsOnly = h5Content == .weights
            options.globalPool = pool?.layerType
            let result = try Converter.convert(
                input: input, output: output, options: options,
                architecture: arch, progress: progress.update)
            progress.finish()
            printAssumptions(result.assumptions)
            for note in result.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            print("wrote \(result.outputPath): \(result.tensorCount) tensors, \(result.bytes.formatted()) bytes (\(result.format.rawValue))")
            if let hint = result.kerasLoadHint { print("load it with: \(hint)") }
            if let name = result.torchvisionName {
                let load = result.format == .safetensors ? "safetensors.torch.load_file(PATH)" : "torch.load(PATH, weights_only=True)"
                print("load it with: torchvision.models.\(name).load_state_dict(\(load))")
            }
            if let module = result.modulePath, let source = result.moduleSource {
                FileHandle.standardError.write(Data("note: torchvision has no module for these keys; wrote \(module), whose build() makes the nn.Sequential they load into:\n\(source)".utf8))
            }
        }
    }
}

/// What a Keras `.h5` output holds.
enum H5Content: String, ExpressibleByArgument, CaseIterable {
    case model, weights
}

