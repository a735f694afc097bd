import Foundation
import KerasFormat
import TorchFormat
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
        let kind = try FileKind.detect(path: path)
        let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        if kind == .native {
            let native = try NativeFile(path: path, verifyChecksums: false)
            return ModelSummary.make(native.header.architecture, modelName: stem, format: NativeOrigin.describe(native),
                                     dtypes: Dictionary(native.header.tensors.map { ($0.name, $0.dtype) }) { a, _ in a },
                                     canonicalRowNames: true)
        }
        var model: SourceModel
        switch kind {
        case .json:
            model = try KerasReader.architecture(json: try KerasArchitecture.readJSON(path: path), origin: path)
        case .hdf5, .kerasArchive, .kerasShardIndex:
            let config = try configPath.map { try KerasArchitecture.readJSON(path: $0) }
            model = try KerasReader.read(path: path, configJSON: config, configOrigin: configPath ?? "")
        case .kerasFolder:
            guard let folder = KerasFolder(path: path) else { throw VGGError.fileNotFound(path: path, expected: InputRole.model.phrase) }
            model = try folder.read(configPath: configPath)
        case .torchZip, .torchLegacy:
            model = try TorchReader.read(path: path, recordChecks: .skip, globalPool: globalPool)
        case .safetensors:
            model = try SafetensorsModel.read(path: path, globalPool: globalPool)
        default:
            throw CommandError.unsupported(path: path, reason: "summary reads Keras .h5/.keras/.json, PyTorch .pth, safetensors and .vggw files; this is \(kind.phrase)")
        }
        if let inputShape {
            guard inputShape.count == 3, inputShape.allSatisfy({ $0 > 0 }) else {
                throw VGGError.architecture(reason: "--input-shape needs three positive numbers H,W,C, got \(inputShape)")
            }
            model.inputShape = model.dataFormat == .channelsLast ? inputShape : [inputShape[2], inputShape[0], inputShape[1]]
        }
        let plan = try ModelAssembler.plan(model)
        let torch = kind == .torchZip || kind == .torchLegacy || kind == .safetensors
        var summary = ModelSummary.make(plan.architecture, modelName: model.modelName ?? stem, format: model.format,
                                        dtypes: Dictionary(plan.tensors.map { ($0.name, $0.dtype) }) { a, _ in a },
                                        channelsFirst: !torch && model.dataFormat == .channelsFirst, canonicalRowNames: torch)
        summary.optimizer = model.optimizer
        return summary
    }
}
