import ArgumentParser
import Foundation
import Imaging
import VGGConvKit
import FileIO
import VGGCore

extension Preprocessing: ExpressibleByArgument {}

/// The options every image command shares: the model, the images, preprocessing and size.
struct ImageOptions: ParsableArguments {
    @OptionGroup var modelArgument: ModelArgument
    var model: String { modelArgument.model }

    @Option(help: "keras (load_img nearest + 'caffe' BGR mean subtraction), torch (Resize + CenterCrop, ImageNet mean/std) or none (0-255 RGB); default: the framework the model came from.")
    var preprocess: Preprocessing?

    @Option(help: "Resize to H,W instead of the model's input size.", transform: { text in
        let parts = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, parts.allSatisfy({ (1...LayerSchema.Limit.spatialSide).contains($0) }) else {
            throw ValidationError("--size needs two integers H,W from 1 to \(LayerSchema.Limit.spatialSide), e.g. 224,224; got '\(text)'")
        }
        return parts
    })
    var size: [Int]?

    @Option(help: "Process only shard K of N (K from 0) of the inputs, in the order one process takes them, and write a part for `vggconv merge`; env:NAME/N reads K from a job array's variable (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID).")
    var shard: String?

    @OptionGroup var threads: ThreadsOption

    /// `--shard`, parsed.
    func parsedShard() throws -> Shard? { try shard.map { try Shard.parse($0) } }
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
            guard options.shard == nil || json else { throw ValidationError("--shard writes a part for merge: add --json") }
        }

        func run() throws {
            options.threads.apply()
            let model = try ModelOpener.native(options.model, reading: options.modelArgument.reading)
            var inputs = try imageInputs(images, model: model, preprocessing: options.preprocess, size: options.size)
            let labelChoice: ImagePrediction.Labels? = labels.map { $0 == "imagenet" ? .imagenet : .file($0) }
            var part: ShardPart?
            if let shard = try options.parsedShard() {
                (inputs, part) = inputs.sharded(shard, kind: .predict, model: model,
                                                settings: ["top": "\(top)", "flip": "\(tta == .flip)", "labels": ImagePrediction.Labels.setting(labelChoice)])
            }
            let progress = ProgressBar(label: "predicting")
            let results = try ImagePrediction.predict(model: model, inputs: inputs, top: top, labels: labelChoice, flip: tta == .flip,
                                                      progress: progress.update)
            progress.finish()
            if let part {
                print(try JSONOutput.text(PredictionPart(part: part, results: results)))
            } else {
                print(json ? try JSONOutput.text(results) : ImagePrediction.text(results))
            }
        }
    }
}

extension VGGConv {
    struct Features: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write one layer's activations for many photos (or a .npy batch) to one .npy, streamed.",
            discussion: "Default layer: the last pooling layer (the 'bottleneck features' to train a small head on). Memory is bounded by one batch however many images there are.")

        @OptionGroup var options: ImageOptions

        @Argument(help: "Image files or directories (or none, with --input).", completion: .file(extensions: ["jpg", "jpeg", "png"]))
        var images: [String] = []

        @Option(help: "A preprocessed .npy batch instead of images (its layout: --layout).", completion: .file(extensions: ["npy"]))
        var input: String?

        @Option(help: "The layer whose output to write (canonical or source name).")
        var layer: String?

        @Option(help: "Axis order of the .npy (and of --input): nchw, or nhwc (Keras's); default: the model's framework's.")
        var layout: TensorLayoutChoice?

        @Option(name: .shortAndLong, help: "The .npy to write.")
        var output: String

        @Option(help: "Also draw the first input's channels as a grid of gray tiles into this PNG.")
        var png: String?

        @Flag(help: "Overwrite the outputs if they exist.")
        var force = false

        func validate() throws {
            guard images.isEmpty != (input == nil) else { throw ValidationError("give images (or directories) or --input X.npy, not both") }
            guard options.shard == nil || input == nil else { throw ValidationError("--shard slices images, not an --input array") }
        }

        func run() throws {
            options.threads.apply()
            let partPath = output + ".part.json"
            try Converter.checkOutputs([output] + (png.map { [$0] } ?? []) + (options.shard == nil ? [] : [partPath]),
                                       inputs: [options.model] + images + (input.map { [$0] } ?? []), overwrite: force)
            let model = try ModelOpener.native(options.model, reading: options.modelArgument.reading)
            let kerasModel = SourceFramework(sourceFormat: model.header.provenance.sourceFormat) == .keras
            let order = layout ?? (kerasModel ? .nhwc : .nchw)
            var part: ShardPart?
            let source: FeatureExtraction.Source
            if let input {
                source = .array(path: input, layout: order)
            } else {
                var inputs = try imageInputs(images, model: model, preprocessing: options.preprocess, size: options.size)
                if let shard = try options.parsedShard() {
                    (inputs, part) = inputs.sharded(shard, kind: .features, model: model, settings: ["layer": layer ?? "default", "layout": order.rawValue])
                }
                source = .images(inputs)
            }
            let progress = ProgressBar(label: "features")
            // The array, its picture and its part are placed together: all, or none.
            let result = try OutputCommit.together {
                let result = try FeatureExtraction.extract(model: model, layer: layer, source: source, output: output, layout: order,
                                                           overwrite: force, progress: progress.update)
                progress.finish()
                if let part {
                    let file = try OutputFile(path: partPath, overwrite: force)
                    try Array(try JSONOutput.text(part).utf8).withUnsafeBytes { try file.write($0, at: 0) }
                    try file.commit()
                }
                if let png {
                    guard let grid = FeatureExtraction.grid(result) else {
                        throw ValidationError("--png draws spatial feature maps; layer \(result.layer) outputs a vector")
                    }
                    try PNGWriter.write(grid, to: png, overwrite: force)
                }
                return result
            }
            print("wrote \(output): float32 \(result.shape) (layer \(result.layer), \(order.rawValue.uppercased()))")
            if png != nil {
                print("wrote \(png!): the first input's \(min(result.sampleShape[0], 64)) channels of \(result.layer)")
            }
        }
    }

    struct Filters: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Draw a convolution's kernels: the first layer's as RGB tiles, deeper layers' as gray tiles per input channel.")

        @OptionGroup var modelArgument: ModelArgument
        var model: String { modelArgument.model }

        @Option(help: "The convolution (default: the first).")
        var layer: String?

        @Option(help: "How many tiles.")
        var count = 30

        @Option(help: "The PNG to write.")
        var png: String

        @Flag(help: "Overwrite the PNG if it exists.")
        var force = false

        func run() throws {
            try Converter.checkOutput(png, inputs: [model], overwrite: force)
            let picture = try FilterPicture.render(model: try ModelOpener.native(model, reading: modelArgument.reading), layer: layer, count: max(1, count))
            try PNGWriter.write(picture.image, to: png, overwrite: force)
            print("wrote \(png): \(picture.tiles) kernels of \(picture.layer), \(picture.image.width)x\(picture.image.height)")
        }
    }
}

extension VGGConv {
    struct Gradcam: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gradcam",
            abstract: "Grad-CAM: where the network looks for a class, as a heat map over the image.",
            discussion: "The gradient of the class score (before softmax) with respect to the chosen block's activations weights its channels; the map is ReLU of the weighted sum, upsampled bilinearly to the network's input size and blended over the image as the network saw it (resized, cropped).")

        @OptionGroup var options: ImageOptions

        @Argument(help: "The image; or several images or directories of them, one map each (--png and --npy then name directories).",
                  completion: .file(extensions: ["jpg", "jpeg", "png"]))
        var images: [String]

        @Option(name: .customLong("class"), help: "The class index (default: the top-scoring class).")
        var classIndex: Int?

        @Option(help: "The class ranked this high instead (1: the top-scoring class).")
        var top: Int?

        @Option(help: "The layer whose activations are weighted (default: the end of the last convolution block).")
        var layer: String?

        @Option(help: "The PNG to write: the heat map over the image. For several images, a directory (created if missing) that gets NAME.png per image NAME.jpg/.png.")
        var png: String

        @Option(help: "Also write the upsampled map (H x W float32) as .npy; for several images, a directory for NAME.npy per image.")
        var npy: String?

        @Flag(help: "Overwrite the outputs if they exist.")
        var force = false

        func validate() throws {
            guard !images.isEmpty else { throw ValidationError("give an image, or images or directories") }
            guard options.shard == nil else { throw ValidationError("gradcam runs in one process: --shard does not apply") }
            guard classIndex == nil || top == nil else { throw ValidationError("give --class or --top, not both") }
        }

        func run() throws {
            options.threads.apply()
            var isDirectory: ObjCBool = false
            let single = images.count == 1 && !(FileManager.default.fileExists(atPath: images[0], isDirectory: &isDirectory) && isDirectory.boolValue)
            let model = try ModelOpener.native(options.model, reading: options.modelArgument.reading)
            let inputs = try imageInputs(images, model: model, preprocessing: options.preprocess, size: options.size)
            let outputs = single ? [(png: png, npy: npy)] : try GradcamOutputs.perImage(inputs.paths, png: png, npy: npy)
            try Converter.checkOutputs(outputs.flatMap { [$0.png] + ($0.npy.map { [$0] } ?? []) }, inputs: [options.model] + inputs.paths,
                                       overwrite: force)
            if !single { try GradcamOutputs.makeDirectories([png] + (npy.map { [$0] } ?? [])) }
            let progress = ProgressBar(label: "grad-cam")
            let report: ((Int, Int) -> Void)? = single ? nil : { progress.update($0, $1) }
            var lines: [String] = []
            try GradCAM.computeEach(model: model, inputs: inputs, layer: layer, classIndex: classIndex, rank: top ?? 1,
                                    progress: report) { (index: Int, result: GradCAM.Result) in
                let (pngPath, npyPath) = (outputs[index].png, outputs[index].npy)
                try OutputCommit.together {
                    try PNGWriter.write(GradCAM.overlay(result), to: pngPath, overwrite: force)
                    if let npyPath {
                        try NpyArray(dtype: .float32, shape: [inputs.size.height, inputs.size.width],
                                     bytes: result.upsampled.withUnsafeBytes { Array($0) }).write(to: npyPath, overwrite: force)
                    }
                }
                lines.append("wrote \(SafeText.oneLine(pngPath)): Grad-CAM of class \(result.classIndex) (score \(result.score)) at \(result.layer), \(result.size.height)x\(result.size.width) map upsampled to \(inputs.size.height)x\(inputs.size.width)")
            }
            progress.finish()
            print(lines.joined(separator: "\n"))
        }
    }
}

/// Where `gradcam` writes the maps of several images: NAME.png (and NAME.npy) in the directories given.
enum GradcamOutputs {
    /// One (png, npy) pair per image path, named after the image.
    /// - Throws: `ValidationError` when two images share a name (photos/a.jpg and photos/a.png), or when a
    ///   directory to write into is a file.
    static func perImage(_ paths: [String], png: String, npy: String?) throws -> [(png: String, npy: String?)] {
        for directory in [png] + (npy.map { [$0] } ?? []) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw ValidationError("\(SafeText.oneLine(directory)) is a file; for several images give a directory to write NAME.png (or .npy) into")
            }
        }
        var seen: [String: String] = [:]
        return try paths.map { path in
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            if let other = seen.updateValue(path, forKey: name) {
                throw ValidationError("\(SafeText.oneLine(other)) and \(SafeText.oneLine(path)) would both write \(SafeText.oneLine(name)).png; give them apart in separate runs or rename one")
            }
            return ((png as NSString).appendingPathComponent(name + ".png"), npy.map { ($0 as NSString).appendingPathComponent(name + ".npy") })
        }
    }

    /// Creates each directory that does not exist yet (its parent must).
    static func makeDirectories(_ directories: [String]) throws {
        for directory in directories where !FileManager.default.fileExists(atPath: directory) {
            guard mkdir(directory, 0o777) == 0 || errno == EEXIST else {
                throw ValidationError("cannot create the directory \(SafeText.oneLine(directory)): \(String(cString: strerror(errno)))")
            }
        }
    }
}

/// `ImageInputs`, with a note on stderr for each directory entry passed over (not a regular file).
func imageInputs(_ arguments: [String], model: NativeFile, preprocessing: Preprocessing?, size: [Int]?) throws -> ImageInputs {
    let inputs = try ImageInputs(arguments, model: model, preprocessing: preprocessing, size: size)
    for entry in inputs.skipped {
        FileHandle.standardError.write(Data("note: skipped \(entry): not a regular file\n".utf8))
    }
    return inputs
}
