import Foundation
import KerasFormat
import TorchFormat
import FileIO
import VGGCore

/// Builds `vggconv summary` data from any readable file, reading metadata only: HDF5 attributes and
/// dataset shapes, the pickle without its storages, the native header, or a Keras architecture JSON.
public enum Summarizer {
    /// Summarises `path`. `configPath` supplies a Keras architecture JSON for a weights-only `.h5`;
    /// `inputShape` (H, W, C) overrides the input the file records or implies.
    /// - Throws: the reader's error, or `VGGError.architecture` naming the first layer shapes cannot follow.
    /// `globalPool` is the pooling of a PyTorch head that takes the channel count (nil: average).
    public static func summary(path: String, configPath: String? = nil, inputShape: [Int]? = nil,
                               globalPool: LayerType? = nil) throws -> ModelSummary {
        let format = try FormatRegistry.format(of: path)
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if format is NativeModelFormat {
            let native = try NativeFile(path: path, verifyChecksums: false)
            return ModelSummary.make(native.header.architecture, modelName: stem, format: NativeOrigin.describe(native),
                                     dtypes: Dictionary(native.header.tensors.map { ($0.name, $0.dtype) }) { a, _ in a },
                                     canonicalRowNames: true)
        }
        var model = try format.readModel(path, FormatRequest(reading: ReadOptions(configPath: configPath, globalPool: globalPool),
                                                             purpose: .summary))
        if let inputShape {
            guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
                throw VGGError.architecture(reason: "the input shape needs three positive numbers H,W,C, got \(inputShape)")
            }
            model.inputShape = model.dataFormat == .channelsLast ? inputShape : ChannelOrder.channelsFirst(inputShape)
        }
        let plan = try ModelAssembler.plan(model)
        // Files without Keras layer names (PyTorch keys, ONNX nodes) list canonical names with theirs beside them.
        let torch = SourceFramework(sourceFormat: model.format) == .pytorch
        let sourceNames = format.capabilities.sourceNameTitle
        var summary = ModelSummary.make(plan.architecture, modelName: model.modelName ?? stem, format: model.format,
                                        dtypes: Dictionary(plan.tensors.map { ($0.name, $0.dtype) }) { a, _ in a },
                                        channelsFirst: !torch && model.dataFormat == .channelsFirst, canonicalRowNames: sourceNames != nil)
        summary.sourceColumnTitle = sourceNames ?? summary.sourceColumnTitle
        summary.optimizer = model.optimizer
        return summary
    }
}
