import ArgumentParser
import Foundation
import Imaging
import VGGConvKit
import VGGCore

extension Preprocessing: ExpressibleByArgument {}

/// The options every image command shares: the model, the images, preprocessing and size.
struct ImageOptions: ParsableArguments {
    @Argument(help: "The model: .vggw, or any file convert reads.", completion: .file())
    var model: String

    @Option(help: "keras (load_img nearest + 'caffe' BGR mean subtraction), torch (Resize + CenterCrop, ImageNet mean/std) or none (0-255 RGB); default: the framework the model came from.")
    var preprocess: Preprocessing?

    @Option(help: "Resize to H,W instead of the model's input size.", transform: { text in
        let parts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ (1...8192).contains($0) }) else {
            throw ValidationError("--size needs two integers H,W from 1 to 8192, e.g. 224,224; got '\(text)'")
        }
        return parts
    })
    var size: [Int]?
}

extension VGGConv {
    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Classify photos (JPEG, PNG, or directories of them) with the framework's own preprocessing.",
            discussion: "Prints the top classes with probabilities (softmax applied when the model outputs logits), labelled with the ImageNet class names for 1000-class models.")

        @OptionGroup var options: ImageOptions

        @Argument(help: "Image files or directories.", completion: .file(extensions: ["jpg", "jpeg", "png"]))
        var images: [String]

        @Option(help: "How many classes to print per image.")
        var top = 5

        @Option(help: "imagenet (the 1000 class names, bundled) or a file with one label per line; default: imagenet for 1000-class models.")
        var labels: String?

        @Option(help: "Test-time augmentation: 'flip' averages the prediction with the mirrored image's.")
        var tta: TestTimeAugmentation?

        @Flag(help: "Print JSON.")
        var json = false

        enum TestTimeAugmentation: String, ExpressibleByArgument { case flip }

        func validate() throws {
            guard (1...1000).contains(top) else { throw ValidationError("--top must be 1 to 1000") }
            guard !images.isEmpty else { throw ValidationError("give at least one image or directory") }
        }

        func run() throws {
            let model = try ModelOpener.native(options.model)
            let inputs = try ImageInputs(images, model: model, preprocessing: options.preprocess, size: options.size)
            let progress = ProgressBar(label: "predicting")
            let results = try ImagePrediction.predict(model: model, inputs: inputs, top: top,
                                                      labels: labels.map { $0 == "imagenet" ? .imagenet : .file($0) }, flip: tta == .flip,
                                                      progress: progress.update)
            progress.finish()
            print(json ? try JSONOutput.text(results) : ImagePrediction.text(results))
        }
    }
}
