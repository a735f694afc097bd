import Foundation
import Imaging
import Inference
import FileIO
import VGGCore

/// Photos as network inputs: which files, which preprocessing, which size, in batches.
public struct ImageInputs: Sendable {
    /// The image files, directories expanded (their .jpg/.jpeg/.png files, sorted by name, not recursive).
    public private(set) var paths: [String]
    /// Entries of the directories given that were passed over because they are not regular files
    /// ("photos/x.png (a FIFO)"), for a note on stderr.
    public let skipped: [String]
    public let preprocessing: Preprocessing
    /// (H, W) the images are resized to.
    public let size: (height: Int, width: Int)

    /// - Parameters:
    ///   - arguments: image files and directories.
    ///   - model: the native model (its input size and the framework it came from pick the defaults).
    ///   - preprocessing: overrides the model's framework's preprocessing.
    ///   - size: overrides the model's input size.
    /// - Throws: `RequestError.noSuchInput` for a missing path, `.noImages` for a directory without images.
    public init(_ arguments: [String], model: NativeFile, preprocessing: Preprocessing?, size: [Int]?) throws {
        var paths: [String] = []
        var skipped: [String] = []
        for argument in arguments {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
                throw RequestError.noSuchInput(path: argument)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: argument)) ?? []
                let images = names.filter { ImageDecoder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                    .map { (argument as NSString).appendingPathComponent($0) }
                // A FIFO, socket, device or folder named like an image is passed over, not read.
                for path in images {
                    if let kind = Self.notRegular(path) { skipped.append("\(SafeText.oneLine(path)) (\(kind))") } else { paths.append(path) }
                }
                guard !images.isEmpty else {
                    throw RequestError.noImages(directory: argument)
                }
            } else {
                paths.append(argument)
            }
        }
        self.paths = paths
        self.skipped = skipped
        self.preprocessing = preprocessing ?? Preprocessing.matching(sourceFormat: model.header.provenance.sourceFormat)
        let input = model.header.architecture.inputShape
        self.size = size.map { ($0[0], $0[1]) } ?? (input[1], input[2])
    }

    /// These inputs cut to `shard`'s slice, and the part that says so (`settings` from the model).
    public func sharded(_ shard: Shard, kind: ShardPart.Kind, model: NativeFile, settings: [String: String] = [:]) -> (ImageInputs, ShardPart) {
        var slice = self
        slice.paths = Array(paths[shard.range(of: paths.count)])
        let part = ShardPart(kind: kind, shard: shard, total: paths.count, files: slice.paths,
                             settings: ShardPart.settings(model: model, inputs: self).merging(settings) { $1 })
        return (slice, part)
    }

    /// The preprocessed (C, H, W) tensor of image `index`; `flipped` mirrors it first (test-time augmentation).
    public func tensor(_ index: Int, flipped: Bool = false) throws -> [Float] {
        var image = try ImageDecoder.decode(path: paths[index])
        if flipped { image = image.flippedHorizontally }
        return preprocessing.tensor(preprocessing.resize(image, height: size.height, width: size.width))
    }

    /// The engine for these inputs' size (a fully convolutional model runs at any size).
    func engine(_ model: NativeFile, variant: RunVariant = RunVariant()) throws -> InferenceEngine {
        try InferenceEngine(file: model, inputShape: [model.header.architecture.inputShape[0], size.height, size.width], variant: variant)
    }

    /// What `path` is when it is not a regular file ("a FIFO", "a directory", …), following links; nil
    /// for a regular file or one that cannot be examined (reading it reports why).
    static func notRegular(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let type = info.st_mode & S_IFMT
        return type == S_IFREG ? nil : OutputFile.describe(type)
    }

    /// Images per forward pass: enough to batch the dense layers, few enough to bound memory.
    static let batch = 8
}
