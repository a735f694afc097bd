import Foundation
import Imaging
import TestSupport
import FileIO
import VGGCore
import XCTest


/// `predict` on the photos with the 32x32 sample models, against tf-keras's and PyTorch's own
/// predictions with their own preprocessing (samples/generate_images.py).
final class PredictTests: XCTestCase {
    struct Models: Decodable {
        struct Framework: Decodable { var model: String, top5: [[Int]] }
        var order: [String], keras: Framework, torch: Framework
    }

    func testTopFiveAndProbabilitiesMatchTheFrameworks() throws {
        struct File: Decodable { var models: Models }
        let data = try Data(contentsOf: URL(fileURLWithPath: Samples.path("images/manifest.json")))
        let manifest = try JSONDecoder().decode(File.self, from: data).models
        let golden = Dictionary(try NpyArray.readArchive(path: Samples.path("images/golden_models.npz")).map { ($0.name, $0.array) }) { a, _ in a }
        for (framework, expected, key) in [(manifest.keras, manifest.keras.top5, "keras_probabilities"), (manifest.torch, manifest.torch.top5, "torch_probabilities")] {
            let result = try vggconv("predict", Samples.path(framework.model), Samples.path("images"), "--top", "10", "--json")
            XCTAssertEqual(result.status, 0, result.stderr)
            let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            XCTAssertEqual(rows.map { ($0["file"] as? String ?? "").split(separator: "/").last.map(String.init) ?? "" }, manifest.order)
            let probabilities = try XCTUnwrap(golden[key]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for (n, row) in rows.enumerated() {
                let top = row["top"] as? [[String: Any]] ?? []
                XCTAssertEqual(top.prefix(5).map { $0["index"] as? Int ?? -1 }, expected[n], "\(framework.model) on \(manifest.order[n])")
                for entry in top {
                    let index = entry["index"] as? Int ?? 0, p = Float(entry["probability"] as? Double ?? -1)
                    XCTAssertEqual(p, probabilities[n * 10 + index], accuracy: 1e-4, "\(framework.model) on \(manifest.order[n]) class \(index)")
                }
            }
        }
    }

    func testFlipLabelsAndBadInput() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let labels = scratch.file("labels.txt")
        try (0..<10).map { "thing \($0)" }.joined(separator: "\n").write(toFile: labels, atomically: true, encoding: .utf8)
        let named = try vggconv("predict", Samples.path("vgg_small.pth"), Samples.path("images/rocket.jpg"), "--labels", labels, "--tta", "flip", "--top", "2")
        XCTAssertEqual(named.status, 0, named.stderr)
        XCTAssertTrue(named.stdout.hasPrefix("\(Samples.path("images/rocket.jpg")): thing "), named.stdout)
        let imagenet = try vggconv("predict", Samples.path("vgg_small.pth"), Samples.path("images/rocket.jpg"), "--labels", "imagenet")
        XCTAssertEqual(imagenet.status, 2)
        XCTAssertTrue(imagenet.stderr.contains("not ImageNet's 1000"), imagenet.stderr)
        let missing = try vggconv("predict", Samples.path("vgg_small.pth"), scratch.file("nothing.jpg"))
        XCTAssertEqual(missing.status, 2)
        XCTAssertTrue(missing.stderr.contains("no such file"), missing.stderr)
    }
}

/// `features` and `filters` on the photos, against a Keras sub-model and a PyTorch forward hook.
final class FeatureTests: XCTestCase {
    func testFeaturesEqualTheFrameworksIntermediateOutputs() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let golden = Dictionary(try NpyArray.readArchive(path: Samples.path("images/golden_models.npz")).map { ($0.name, $0.array) }) { a, _ in a }
        for (model, key, layout) in [("vgg_small_tfkeras_model.h5", "keras_features", "nhwc"), ("vgg_small.pth", "torch_features", "nchw")] {
            let out = scratch.file("\(key).npy"), png = scratch.file("\(key).png")
            let result = try vggconv("features", Samples.path(model), Samples.path("images"), "-o", out, "--png", png)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("layer block4_pool, \(layout.uppercased())"), result.stdout)
            let ours = try NpyArray.read(path: out), theirs = try XCTUnwrap(golden[key])
            XCTAssertEqual(ours.shape, theirs.shape, model)
            let (a, b) = (ours.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }, theirs.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
            let scale = b.map(abs).max() ?? 1, worst = zip(a, b).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(model): max |err| \(worst), scale \(scale)")
            let picture = try ImageDecoder.decode(path: png)  // a PNG our own decoder (libpng) reads back
            XCTAssertGreaterThan(picture.width, 100)
        }
        // A converted model records its origin, which picks the preprocessing: inspect says which.
        let native = scratch.file("model.vggw")
        XCTAssertEqual(try vggconv("convert", Samples.path("vgg_small.pth"), "-o", native).status, 0)
        XCTAssertTrue(try vggconv("inspect", native).stdout.contains("photos preprocessed the torch way"))
        // A .npy batch in, any layer out.
        let fromArray = scratch.file("array.npy")
        let array = try vggconv("features", Samples.path("vgg_small.pth"), "--input", Samples.path("golden/vgg_small_input_nchw.npy"),
                                "--layer", "fc1", "-o", fromArray)
        XCTAssertEqual(array.status, 0, array.stderr)
        XCTAssertEqual(try NpyArray.read(path: fromArray).shape, [2, 32])
        let unknown = try vggconv("features", Samples.path("vgg_small.pth"), Samples.path("images"), "--layer", "nope", "-o", scratch.file("x.npy"))
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("the model has no such layer"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("x.npy")))
    }

    func testFiltersDrawTheFirstLayersKernels() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let png = scratch.file("filters.png")
        let result = try vggconv("filters", Samples.path("vgg_small.pth"), "--png", png)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("8 kernels of block1_conv1"), result.stdout)
        let image = try ImageDecoder.decode(path: png)
        // 8 tiles in rows of 3: 3 columns of 48-pixel tiles with 2-pixel gaps.
        XCTAssertEqual(image.width, 3 * 50 + 2)
        let deeper = try vggconv("filters", Samples.path("vgg_small.pth"), "--layer", "block2_conv1", "--count", "12", "--png", scratch.file("deep.png"))
        XCTAssertTrue(deeper.stdout.contains("12 kernels of block2_conv1"), deeper.stdout)
        let notConv = try vggconv("filters", Samples.path("vgg_small.pth"), "--layer", "fc1", "--png", scratch.file("no.png"))
        XCTAssertEqual(notConv.status, 2)
    }
}

/// `gradcam` against a Grad-CAM computed with PyTorch autograd on the same model and photos.
final class GradCAMTests: XCTestCase {
    func testMapsEqualPyTorchAutograd() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        struct File: Decodable {
            struct Models: Decodable { struct Torch: Decodable { var gradcam_class: [Int]; var top5: [[Int]] }; var order: [String]; var torch: Torch }
            var models: Models
        }
        let manifest = try JSONDecoder().decode(File.self, from: Data(contentsOf: URL(fileURLWithPath: Samples.path("images/manifest.json")))).models
        let golden = Dictionary(try NpyArray.readArchive(path: Samples.path("images/golden_models.npz")).map { ($0.name, $0.array) }) { a, _ in a }
        let reference = try XCTUnwrap(golden["torch_gradcam_upsampled"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        var nonzero = 0
        for (n, name) in manifest.order.enumerated() {
            let png = scratch.file("\(n).png"), npy = scratch.file("\(n).npy")
            let result = try vggconv("gradcam", Samples.path("vgg_small.pth"), Samples.path("images/\(name)"), "--png", png, "--npy", npy)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stdout.contains("class \(manifest.torch.gradcam_class[n]) "), "\(name): \(result.stdout)")
            XCTAssertTrue(result.stdout.contains("at block4_conv3, 4x4 map upsampled to 32x32"), result.stdout)
            let ours = try NpyArray.read(path: npy).bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let theirs = Array(reference[(n * 1024)..<((n + 1) * 1024)])
            let top = theirs.max() ?? 0, worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .nan
            nonzero += top > 0 ? 1 : 0  // random weights: for some photos every weighted sum is negative
            XCTAssertLessThanOrEqual(worst, 1e-3 * top, "\(name): max |err| \(worst) of a map peaking at \(top)")
            XCTAssertEqual(try ImageDecoder.decode(path: png).width, 32)
        }
        XCTAssertGreaterThanOrEqual(nonzero, 3)
        // A folder: one compiled network, images decoded a batch ahead; each map is the one-image run's.
        let folder = scratch.file("photos")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        for name in manifest.order { try FileManager.default.copyItem(atPath: Samples.path("images/\(name)"), toPath: folder + "/" + name) }
        let maps = scratch.file("maps"), arrays = scratch.file("arrays")
        let all = try vggconv("gradcam", Samples.path("vgg_small.pth"), folder, "--png", maps, "--npy", arrays)
        XCTAssertEqual(all.status, 0, all.stderr)
        XCTAssertEqual(all.stdout.split(separator: "\n").count, manifest.order.count, all.stdout)
        for (n, name) in manifest.order.enumerated() {
            let stem = (name as NSString).deletingPathExtension
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(arrays)/\(stem).npy")),
                           try Data(contentsOf: URL(fileURLWithPath: scratch.file("\(n).npy"))), name)
            XCTAssertEqual(try ImageDecoder.decode(path: "\(maps)/\(stem).png").width, 32)
        }
        let again = try vggconv("gradcam", Samples.path("vgg_small.pth"), folder, "--png", maps)
        XCTAssertEqual(again.status, 2)
        XCTAssertTrue(again.stderr.contains("already exists"), again.stderr)
        // Two images of one name would write one map: refused before any work.
        try FileManager.default.copyItem(atPath: Samples.path("images/chelsea.png"), toPath: folder + "/rocket.png")
        let clash = try vggconv("gradcam", Samples.path("vgg_small.pth"), folder, Samples.path("images/rocket.jpg"), "--png", scratch.file("clash"))
        XCTAssertEqual(clash.status, 2)
        XCTAssertTrue(clash.stderr.contains("would both write rocket.png"), clash.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch.file("clash")))
        let second = try vggconv("gradcam", Samples.path("vgg_small.pth"), Samples.path("images/\(manifest.order[0])"), "--top", "2",
                                 "--png", scratch.file("second.png"))
        XCTAssertTrue(second.stdout.contains("class \(manifest.torch.top5[0][1]) "), second.stdout)
        let notop = try vggconv("gradcam", Samples.path("vgg_notop.pth"), Samples.path("images/rocket.jpg"), "--png", scratch.file("x.png"))
        XCTAssertEqual(notop.status, 2)
        XCTAssertTrue(notop.stderr.contains("Grad-CAM need a classifier"), notop.stderr)
        let early = try vggconv("gradcam", Samples.path("vgg_small.pth"), Samples.path("images/rocket.jpg"), "--layer", "block1_conv1", "--png", scratch.file("y.png"))
        XCTAssertEqual(early.status, 2)
        XCTAssertTrue(early.stderr.contains("backward pass covers"), early.stderr)
    }
}
