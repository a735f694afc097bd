import FileIO
import VGGCore

/// A request the files or the model cannot satisfy: a file of the wrong kind, a layer or class the model
/// lacks, labels that do not fit it. Each case carries its cause as data, so a caller can match on it;
/// `remedy` names what fixes it, for a front end to phrase as its own control.
public enum RequestError: Error, CustomStringConvertible, Sendable, Equatable {
    case wrongKind(path: String, expected: String, found: String)
    /// vggconv reads this format but does not write it.
    case notWritable(path: String, format: String)
    /// vggconv writes this format but does not read it.
    case notReadable(path: String, format: String)
    /// No format vggconv writes has this output's extension.
    case unknownOutputExtension(path: String, known: [String])
    /// The file describes a model but holds no tensors (a Keras architecture JSON).
    case holdsNoTensors(path: String, kind: String)
    case noSuchLayer(layer: String, layers: [String])
    case notAConvolution(layer: String, convolutions: [String])
    /// Grad-CAM's backward pass cannot go through `blocking`, which follows `layer`.
    case gradCAMCannotPass(layer: String, blocking: String, type: String)
    /// Grad-CAM's backward pass takes only unpadded pools.
    case gradCAMPaddedPool(layer: String)
    /// The layer's output is a vector, where a spatial map is needed.
    case notASpatialMap(layer: String)
    /// The model ends in a feature map, where class scores are needed.
    case notAClassifier(outputShape: [Int])
    /// A rank (1: the top class) beyond the model's class count.
    case rankOutOfRange(rank: Int, classes: Int)
    case classOutOfRange(index: Int, classes: Int)
    /// ImageNet's names asked for a model without 1000 outputs.
    case notImageNetClasses(classes: Int)
    case labelCount(path: String, labels: Int, classes: Int)
    case labelsFile(path: String, problem: LabelsProblem)
    case noSuchInput(path: String)
    case noImages(directory: String)
    /// `evaluate`'s labelled folder: one subfolder of images per class.
    case labelledFolder(path: String, problem: LabelledFolderProblem)
    /// A `--shard` that is not `K/N` with 0 ≤ K < N.
    case shard(text: String, problem: ShardProblem)
    /// Parts that `merge` cannot put together.
    case merge(path: String, problem: MergeProblem)

    public enum ShardProblem: Sendable, Equatable {
        case syntax
        case outOfRange
        /// `env:NAME/N` names a variable the environment does not have.
        case missingVariable(String)
    }

    public enum MergeProblem: Sendable, Equatable {
        case noParts
        case notAPart
        /// A part whose kind, shard count, input count, settings or array shape differ from the first part's.
        case mismatch(field: String, first: String)
        /// A part that does not hold its shard's slice of the inputs.
        case wrongSlice(shard: Int)
        case duplicate(shard: Int, other: String)
        case missing(shards: [Int])
    }

    /// What is wrong with a labels file (one class name per line, UTF-8).
    public enum LabelsProblem: Sendable, Equatable {
        case tooLarge(bytes: Int, limit: Int)
        case tooManyLines(lines: Int, limit: Int)
        case notUTF8(line: Int)
        case blank(line: Int)
        case controlCharacter(line: Int, text: String)
    }

    /// What is wrong with a labelled folder.
    public enum LabelledFolderProblem: Sendable, Equatable {
        case notADirectory
        case noClassFolders
        case noImages
        /// A class folder whose name is none of the labels.
        case unknownClass(folder: String)
        case classCount(folders: Int, classes: Int)
    }

    public var description: String {
        switch self {
        case .wrongKind(let path, let expected, let found):
            return "\(path): expected \(expected), but this is \(found)"
        case .notWritable(let path, let format):
            return "\(path): vggconv reads \(format) files but does not write them"
        case .notReadable(let path, let format):
            return "\(path): vggconv writes \(format) but does not read it yet"
        case .unknownOutputExtension(let path, let known):
            return "\(path): the output's extension picks its format: \(known.joined(separator: ", "))"
        case .holdsNoTensors(let path, let kind):
            return "\(path): \(kind) holds no tensors; inspect the weights file it describes"
        case .noSuchLayer(let layer, let layers):
            return "layer \(SafeText.quote(layer)): the model has no such layer; its layers: \(layers.joined(separator: ", "))"
        case .notAConvolution(let layer, let convolutions):
            return "layer \(SafeText.quote(layer)): not a convolution of the model; its convolutions: \(convolutions.joined(separator: ", "))"
        case .gradCAMCannotPass(let layer, let blocking, let type):
            return "layer \(SafeText.quote(layer)): layer \(blocking) (\(type)) follows it; Grad-CAM's backward pass covers MaxPool, global pooling, Flatten, Dropout, AdaptiveAvgPool, Dense and ReLU: choose a later layer (default: the end of the last convolution block)"
        case .gradCAMPaddedPool(let layer):
            return "layer \(layer): Grad-CAM's backward pass takes unpadded ('valid') pools"
        case .notASpatialMap(let layer):
            return "layer \(SafeText.quote(layer)): outputs a vector, not a spatial map"
        case .notAClassifier(let shape):
            return "the model outputs a \(shape) feature map, not class scores: classifying and Grad-CAM need a classifier (extract its feature maps instead)"
        case .rankOutOfRange(let rank, let classes):
            return "rank \(rank): the model has \(classes) classes"
        case .classOutOfRange(let index, let classes):
            return "class \(index): the model has \(classes) classes (0 to \(classes - 1))"
        case .notImageNetClasses(let classes):
            return "the ImageNet labels: the model has \(classes) outputs, not ImageNet's 1000; give a labels file instead (one name per line)"
        case .labelCount(let path, let labels, let classes):
            return "\(path): holds \(labels) labels but the model has \(classes) outputs"
        case .labelsFile(let path, let problem):
            return "\(path): " + Self.phrase(problem)
        case .noSuchInput(let path):
            return "\(path): no such file or directory"
        case .noImages(let directory):
            return "\(directory): the directory holds no .jpg, .jpeg or .png file"
        case .labelledFolder(let path, let problem):
            return "\(path): " + Self.phrase(problem)
        case .shard(let text, let problem):
            switch problem {
            case .syntax: return "shard '\(SafeText.quote(text))': give K/N (K from 0 to N-1) or env:NAME/N"
            case .outOfRange: return "shard '\(SafeText.quote(text))': K must be 0 to N-1 and N 1 to \(Shard.maximumCount)"
            case .missingVariable(let name): return "shard '\(SafeText.quote(text))': the environment has no variable \(SafeText.quote(name))"
            }
        case .merge(let path, let problem):
            switch problem {
            case .noParts: return "merge: no parts given"
            case .notAPart: return "\(path): not a part of a sharded run (an output of predict/evaluate --json --shard, or features --shard with its .part.json)"
            case .mismatch(let field, let first): return "\(path): its \(field) differs from that of \(first); parts of one run only"
            case .wrongSlice(let shard): return "\(path): does not hold the inputs of shard \(shard)"
            case .duplicate(let shard, let other): return "\(path): shard \(shard) is given twice (also \(other))"
            case .missing(let shards): return "\(path): shards \(shards.map(String.init).joined(separator: ", ")) of this run are missing"
            }
        }
    }

    private static func phrase(_ problem: LabelsProblem) -> String {
        switch problem {
        case .tooLarge(let bytes, let limit): return "is \(bytes) bytes; a labels file (one class name per line) is at most \(limit)"
        case .tooManyLines(let lines, let limit): return "has \(lines) lines; a labels file holds one class name per line, at most \(limit)"
        case .notUTF8(let line): return "line \(line) is not UTF-8 text; save the labels as UTF-8"
        case .blank(let line): return "line \(line) is blank; give one class name per line, in the order of the model's outputs"
        case .controlCharacter(let line, let text): return "line \(line) holds a control character (\(SafeText.quote(text))); give one class name per line"
        }
    }

    private static func phrase(_ problem: LabelledFolderProblem) -> String {
        switch problem {
        case .notADirectory: return "is not a directory; evaluate reads a folder with one subfolder of images per class"
        case .noClassFolders: return "has no subfolders; evaluate needs one subfolder of images per class (the folder names are the classes)"
        case .noImages: return "its class folders hold no .jpg, .jpeg or .png file"
        case .unknownClass(let folder): return "class folder \(SafeText.quote(folder)) is not one of the labels; name each folder as its class in the labels file"
        case .classCount(let folders, let classes):
            return "has \(folders) class folders but the model has \(classes) classes; the k-th folder in sorted order is class k (or give a labels file naming every output, folders named as their classes)"
        }
    }
}

extension RequestError: Remediable {
    public var remedy: Remedy? {
        switch self {
        case .noSuchLayer, .notAConvolution, .gradCAMCannotPass, .notASpatialMap: return .chooseLayer
        case .rankOutOfRange(_, let classes), .classOutOfRange(_, let classes): return .chooseClass(classes: classes)
        case .notImageNetClasses, .labelCount, .labelledFolder(_, .classCount), .labelledFolder(_, .unknownClass): return .giveLabels
        default: return nil
        }
    }
}
