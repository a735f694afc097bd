import FileIO
import Imaging
import VGGCore

/// A known cause of outputs that differ from a framework's golden after a Keras↔PyTorch move: what
/// `Explanation` tries one at a time. `description` says what would be wrong, `fix` what to change in
/// the user's own code or files, and `remedy` the option of vggconv's that absorbs it, where one does.
public enum MismatchCause: Sendable, Equatable, CustomStringConvertible {
    /// The model ends in softmax; the golden holds logits.
    case goldenHoldsLogits
    /// The golden had softmax applied; the model outputs logits.
    case goldenHoldsProbabilities
    /// The input's values are in the other order than its declared layout (reshaped, not transposed).
    case inputReshaped(declaredChannelsLast: Bool)
    /// RGB where BGR was expected, or the reverse.
    case channelsReversed
    /// The input was preprocessed one way and the model expects another (`.none`: raw 0-255 RGB).
    case preprocessing(given: Preprocessing, expected: Preprocessing)
    /// BatchNormalization's epsilon should be this.
    case batchNormEpsilon(Double)
    /// The first Dense after Flatten has its rows in Keras's H,W,C order.
    case flattenRowsNotPermuted
    /// The first Dense after Flatten had the Flatten permutation applied twice, or to a channels-first model.
    case flattenRowsPermutedTwice

    public var description: String {
        switch self {
        case .goldenHoldsLogits: return "the golden holds logits but the model ends in softmax"
        case .goldenHoldsProbabilities: return "the golden holds probabilities (softmax applied) but the model outputs logits"
        case .inputReshaped(let channelsLast):
            let (declared, actual) = channelsLast ? ("N,H,W,C", "N,C,H,W") : ("N,C,H,W", "N,H,W,C")
            return "the input's values are in \(actual) order though its shape reads \(declared) (reshaped instead of transposed)"
        case .channelsReversed: return "the input's channels are in the other order (RGB vs BGR)"
        case .preprocessing(let given, let expected):
            return "the input \(Self.phrase(given: given)) but the model expects \(Self.phrase(expected: expected))"
        case .batchNormEpsilon(let epsilon):
            return "BatchNormalization epsilon should be \(epsilon) (Keras's default is \(SourceFramework.keras.batchNormEpsilon), PyTorch's \(SourceFramework.pytorch.batchNormEpsilon))"
        case .flattenRowsNotPermuted:
            return "the first Dense after Flatten has its input rows in Keras's H,W,C order (the Flatten permutation was not applied)"
        case .flattenRowsPermutedTwice:
            return "the first Dense after Flatten had the Flatten permutation applied twice or to a channels-first model"
        }
    }

    /// What to change in the user's own code or files.
    public var fix: String {
        switch self {
        case .goldenHoldsLogits: return "compare the model's logits (its output before softmax) with the golden"
        case .goldenHoldsProbabilities:
            return "compare with the framework's logits (its output before softmax), or apply softmax to vggconv's output"
        case .inputReshaped(let channelsLast):
            return channelsLast ? "save x.transpose(0, 2, 3, 1) instead of a reshape, or save it N,C,H,W and read it so"
                : "save x.transpose(0, 3, 1, 2) instead of a reshape, or save it N,H,W,C and read it so"
        case .channelsReversed: return "reverse the channel axis of the input (Keras's 'caffe' VGG takes BGR, torchvision RGB)"
        case .preprocessing(_, let expected):
            switch expected {
            case .keras: return "preprocess with keras.applications.vgg16.preprocess_input (BGR, minus \(Self.list(Preprocessing.caffeMeanBGR)))"
            case .torch:
                return "preprocess with torchvision's Normalize(mean=\(Self.list(Preprocessing.torchMeanRGB)), std=\(Self.list(Preprocessing.torchStdRGB))) on RGB in 0-1"
            case .none: return "give the raw 0-255 RGB values"
            }
        case .batchNormEpsilon:
            return "convert with the source's epsilon: give the Keras config that records it, or fix the layer's epsilon in the source"
        case .flattenRowsNotPermuted: return "convert the Keras file with vggconv (it reorders fc1's rows), or reorder the rows to C,H,W yourself"
        case .flattenRowsPermutedTwice:
            return "convert without reordering fc1's rows (a channels-first Keras model flattens in C,H,W order already)"
        }
    }

    /// The option of vggconv's that absorbs the cause, where one does.
    public var remedy: Remedy? {
        switch self {
        case .goldenHoldsLogits: return .compareLogits
        case .inputReshaped(let channelsLast): return .otherInputLayout(channelsLast: !channelsLast)
        default: return nil
        }
    }

    private static func phrase(given: Preprocessing) -> String {
        switch given {
        case .keras: return "was preprocessed the Keras 'caffe' way (BGR, mean subtracted)"
        case .torch: return "was normalised the torchvision way (RGB, mean/std)"
        case .none: return "is raw 0-255 RGB"
        }
    }

    private static func phrase(expected: Preprocessing) -> String {
        switch expected {
        case .keras: return "Keras's 'caffe' preprocessing"
        case .torch: return "torchvision's normalisation"
        case .none: return "raw 0-255 RGB"
        }
    }

    /// `[103.939, 116.779, 123.68]`: a constant list as Python writes it.
    private static func list(_ values: [Float]) -> String { "[" + values.map { "\($0)" }.joined(separator: ", ") + "]" }
}
