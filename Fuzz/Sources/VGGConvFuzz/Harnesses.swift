import Foundation
import Imaging
import Inference
import KerasFormat
import OnnxFormat
import SafetensorsFormat
import TorchFormat
import VGGConvKit
import FileIO
import VGGCore

/// The readers under fuzzing, one per input format. Each takes the fuzzer's bytes, presents them as a
/// file the way vggconv's commands receive files, and runs what `inspect`, `summary` and the converters
/// run. Errors are the expected outcome; crashes, leaks, hangs and huge allocations are findings.
enum Harness: String, CaseIterable {
    /// The restricted unpickler and the state_dict walk: the bytes are `data.pkl` of a torch zip
    /// (built here, with a few storage records), so mutations land in the pickle, not the container.
    case pickle
    /// The zip container (and whatever torch file it holds).
    case zip
    /// The `.vggw` reader, its schema check, the engine's compilation, the summary.
    case vggw
    /// `.npy` input files.
    case npy
    /// Keras architecture JSON (`model.to_json()`), summarised.
    case json
    /// Keras HDF5 through libhdf5's in-memory file image (every read probed in a child process).
    case hdf5
    /// safetensors: the container checks, foreign keys (module order, timm's head), vggconv's metadata.
    case safetensors
    /// JPEG and PNG photos through libjpeg-turbo and libpng (in this process, errors by longjmp).
    case image
    /// `--labels` files: line splitting, UTF-8 and control-character checks.
    case labels
    /// ONNX models: the protobuf reader, tensors in place, the graph walk, the summary of what it makes.
    case onnx

    /// The file extension each format is presented with.
    var fileExtension: String {
        switch self {
        case .pickle, .zip: return "pth"
        case .vggw: return "vggw"
        case .npy: return "npy"
        case .json: return "json"
        case .hdf5: return "h5"
        case .safetensors: return "safetensors"
        case .image: return "img"
        case .labels: return "txt"
        case .onnx: return "onnx"
        }
    }

    /// Runs one input; returns normally whatever the reader decided. Every reader takes the bytes as a
    /// `MappedFile` held in memory, as it takes a mapped file (libhdf5 opens them as a file image).
    func run(_ bytes: [UInt8]) {
        let contents = self == .pickle ? Self.torchZip(pickle: bytes) : bytes
        let file = MappedFile(bytes: contents, name: "fuzz-input.\(fileExtension)")
        switch self {
        case .pickle, .zip:
            // inventory materialises every tensor; read builds the architecture (what summary needs too).
            _ = try? TorchReader.inventory(file: file)
            _ = try? TorchReader.read(file: file)
        case .vggw:
            // NativeFile is what `inspect` opens (checksums and ModelCheck included); the engine compiles
            // from it as `run` and `bench` do; the summary is made from the header as `summary` makes it.
            if let native = try? NativeFile(file: file) {
                _ = try? InferenceEngine(file: native)
                _ = ModelSummary.make(native.header.architecture, modelName: "fuzz", format: "vggw", canonicalRowNames: true)
            }
        case .npy:
            _ = contents.withUnsafeBytes { try? NpyArray.decode($0, origin: file.path) }
        case .json:
            if let model = try? KerasReader.architecture(json: Data(contents), origin: file.path), let plan = try? ModelAssembler.plan(model) {
                _ = ModelSummary.make(plan.architecture, modelName: "fuzz", format: model.format)
            }
        case .hdf5:
            // What `inspect` lists of any HDF5 file, and the Keras read `summary` and the converters make.
            _ = try? HDF5Inventory.datasets(file: file)
            _ = try? KerasReader.read(file: file)
        case .safetensors:
            if let container = try? SafetensorsFile(file: file) {
                _ = SafetensorsModel.inventory(file: container)
                if let model = try? SafetensorsModel.read(file: container) { _ = try? ModelAssembler.plan(model) }
            }
        case .image:
            // A 300-byte progressive JPEG may declare 88 million pixels, within the limit (as Pillow's),
            // and take seconds to decode: a smaller limit keeps executions fast; the check is the same.
            if let image = try? ImageDecoder.decode(file: file, maximumPixels: 1 << 22) {
                _ = Preprocessing.torch.resize(image, height: 32, width: 24)
                _ = Preprocessing.keras.resize(image, height: 24, width: 32)
            }
        case .labels:
            _ = try? ImagePrediction.Labels.readLabels(file: file)
        case .onnx:
            // What `inspect` lists, and the model `summary` and the converters make (no external data in memory).
            _ = try? OnnxReader.inventory(file: file, folder: nil)
            if let model = try? OnnxReader.read(file: file, folder: nil), let plan = try? ModelAssembler.plan(model) {
                _ = ModelSummary.make(plan.architecture, modelName: "fuzz", format: model.format)
            }
        }
    }

    /// A stored zip in torch.save's layout around `pickle`: `archive/data.pkl`, four 64-byte storage
    /// records `archive/data/0…3`, `byteorder`, `version`. Written here so the fuzzer need not keep a
    /// valid container (central directory, CRCs) intact.
    static func torchZip(pickle: [UInt8]) -> [UInt8] {
        var members: [(String, [UInt8])] = [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8))]
        for key in 0..<4 { members.append(("archive/data/\(key)", [UInt8](repeating: UInt8(key), count: 64))) }
        members.append(("archive/version", Array("3\n".utf8)))
        var out: [UInt8] = [], directory: [UInt8] = []
        func u16(_ v: Int, _ to: inout [UInt8]) { to += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: UInt32, _ to: inout [UInt8]) { for i in 0..<4 { to.append(UInt8(v >> (8 * UInt32(i)) & 0xFF)) } }
        for (name, data) in members {
            let offset = UInt32(out.count), crc = data.withUnsafeBytes { CRC32.of($0) }, nameBytes = Array(name.utf8)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(0, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out); u16(nameBytes.count, &out); u16(0, &out)
            out += nameBytes + data
            u32(0x0201_4B50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(crc, &directory); u32(UInt32(data.count), &directory)
            u32(UInt32(data.count), &directory); u16(nameBytes.count, &directory); u16(0, &directory); u16(0, &directory)
            u16(0, &directory); u16(0, &directory); u32(0, &directory); u32(offset, &directory)
            directory += nameBytes
        }
        let directoryOffset = UInt32(out.count)
        out += directory
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(members.count, &out); u16(members.count, &out)
        u32(UInt32(directory.count), &out); u32(directoryOffset, &out); u16(0, &out)
        return out
    }
}
