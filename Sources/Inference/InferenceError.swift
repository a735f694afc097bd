import Foundation
import FileIO
import VGGCore

/// Failures of the inference engine and its inputs.
public enum InferenceError: Error, CustomStringConvertible, Sendable, Remediable {
    /// An activation the engine does not compute, on a layer of `type`.
    case unsupportedActivation(layer: String, activation: String, type: LayerType)
    /// Softmax over a map rather than a vector.
    case spatialSoftmax(layer: String)
    /// `fixedBy`: the dense layer whose input count pins the model to its own input size, when that is why.
    case inputShape(expected: [Int], actual: [Int], fixedBy: (layer: String, features: Int)? = nil)
    /// The input has the model's shape in the other channel order.
    case inputLayout(expected: [Int], actual: [Int], looksChannelsLast: Bool)
    case missingTensor(layer: String, tensor: String)
    /// The activations at this input size need more memory than the machine (or the process's limit) allows.
    case activationMemory(input: [Int], bytes: Int, budget: Int, fittingSide: Int?)

    public var description: String {
        switch self {
        case .unsupportedActivation(let layer, let activation, let type):
            return "cannot run layer \(layer): activation \(activation)" + (type == .activation || type == .relu ? "" : " on a \(type == .conv2d ? "convolution" : "\(type.rawValue) layer")")
        case .spatialSoftmax(let layer):
            return "cannot run layer \(layer): softmax over a spatial map"
        case .inputShape(let expected, let actual, let fixedBy):
            return "input has shape \(actual) but the model takes \(expected)"
                + (fixedBy.map { "; layer \($0.layer) takes \($0.features) features, so the model only runs at its own input size" } ?? "")
        case .inputLayout(let expected, let actual, let channelsLast):
            return "input has shape \(actual) but the model takes \(expected); it looks \(channelsLast ? "NHWC (channels last)" : "NCHW (channels first)")"
        case .missingTensor(let layer, let tensor):
            return "layer \(layer) needs tensor \(tensor), which the file does not hold"
        case .activationMemory(let input, let bytes, let budget, let side):
            let gib = { (value: Int) in String(format: "%.1f GiB", Double(value) / Double(1 << 30)) }
            return "an input of \(input.count == 3 ? "\(input[1])x\(input[2])" : "\(input)") needs \(gib(bytes)) of activations, more than the \(gib(budget)) this process may use (75% of the memory or of its ulimit)"
                + (side.map { "; use a smaller input (\($0)x\($0) or less)" } ?? "")
        }
    }

    /// An input too large for memory: the largest side that fits.
    public var remedy: Remedy? {
        switch self {
        case .activationMemory(_, _, _, let side?): return .smallerInput(side: side)
        case .inputLayout(_, _, let channelsLast): return .otherInputLayout(channelsLast: channelsLast)
        default: return nil
        }
    }
}
