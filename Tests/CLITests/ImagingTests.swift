import Foundation
import Imaging
import TestSupport
import VGGCore
import XCTest

/// Decoding and preprocessing of real photographs against what Pillow, Keras and torchvision produced
/// for them (samples/generate_images.py): decoding bit for bit, resizing as Pillow does.
final class ImagingTests: XCTestCase {
    struct Manifest: Decodable {
        struct Image: Decodable { var width: Int, height: Int, mode: String, decoded_crc32: UInt32 }
        var images: [String: Image]
    }

    static let manifest: Manifest = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Samples.path("images/manifest.json")))
        return try! JSONDecoder().decode(Manifest.self, from: data)
    }()

    static let golden: [String: NpyArray] = {
        Dictionary(try! NpyArray.readArchive(path: Samples.path("images/golden.npz")).map { ($0.name, $0.array) }) { a, _ in a }
    }()

    func testDecodingEqualsPillowBitForBit() throws {
        XCTAssertEqual(Self.manifest.images.count, 7)
        for (name, expected) in Self.manifest.images.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(path: Samples.path("images/\(name)"))
            XCTAssertEqual([image.width, image.height], [expected.width, expected.height], name)
            XCTAssertEqual(image.pixels.withUnsafeBytes { CRC32.of($0) }, expected.decoded_crc32, "\(name) (Pillow mode \(expected.mode))")
        }
    }

    /// 16-bit PNGs in each colour type (samples/generate_png_variants.py): Pillow clips 16-bit gray but
    /// takes gray+alpha's and RGBA's high byte; a gray+alpha file once decoded as all white.
    func testSixteenBitPNGsDecodeAsPillowDoes() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Samples.path("images/variants/manifest.json")))
        let variants = try JSONDecoder().decode(Manifest.self, from: data)
        XCTAssertEqual(variants.images.count, 3)
        for (name, expected) in variants.images.sorted(by: { $0.key < $1.key }) {
            let image = try ImageDecoder.decode(path: Samples.path("images/variants/\(name)"))
            XCTAssertEqual([image.width, image.height], [expected.width, expected.height], name)
            XCTAssertEqual(image.pixels.withUnsafeBytes { CRC32.of($0) }, expected.decoded_crc32, "\(name) (Pillow mode \(expected.mode))")
        }
    }

    /// Returns (max abs difference, fraction of values within 1) of our resized image and the golden.
    private func compare(_ image: RGBImage, _ golden: NpyArray) -> (Int, Double) {
        XCTAssertEqual(golden.shape, [image.height, image.width, 3])
        var worst = 0, within = 0
        for (a, b) in zip(image.pixels, golden.bytes) {
            let d = abs(Int(a) - Int(b))
            worst = max(worst, d)
            within += d <= 1 ? 1 : 0
        }
        return (worst, Double(within) / Double(max(1, golden.bytes.count)))
    }

    func testResizingMatchesKerasAndTorchvision() throws {
        for name in Self.manifest.images.keys.sorted() {
            let image = try ImageDecoder.decode(path: Samples.path("images/\(name)"))
            let keras = compare(Preprocessing.keras.resize(image, height: 224, width: 224), try XCTUnwrap(Self.golden["\(name):keras_224"]))
            XCTAssertEqual(keras.0, 0, "\(name): load_img(target_size=(224, 224)) is nearest: exact")
            let torch = compare(Preprocessing.torch.resize(image, height: 224, width: 224), try XCTUnwrap(Self.golden["\(name):torch_224"]))
            XCTAssertEqual(torch.0, 0, "\(name): Resize(256) + CenterCrop(224), max difference \(torch.0), \(torch.1 * 100)% within 1")
        }
    }

    func testPreprocessedTensorsMatchTheFrameworks() throws {
        let image = try ImageDecoder.decode(path: Samples.path("images/rocket.jpg"))
        for (preprocessing, key, channelsLast) in [(Preprocessing.keras, "keras_tensor", true), (.torch, "torch_tensor", false)] {
            let ours = preprocessing.tensor(preprocessing.resize(image, height: 224, width: 224))
            let golden = try XCTUnwrap(Self.golden["rocket.jpg:\(key)"])
            var theirs = golden.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            if channelsLast {  // Keras's tensor is (H, W, C): bring it to (C, H, W)
                let plane = 224 * 224
                theirs = (0..<(3 * plane)).map { theirs[($0 % plane) * 3 + $0 / plane] }
            }
            let worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .nan
            XCTAssertLessThanOrEqual(worst, 1e-5, "\(preprocessing): max difference \(worst)")
        }
    }

    func testBadImagesAreRefused() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: Samples.path("images/rocket.jpg")))
        let cases: [(String, Data, String)] = [
            ("truncated.jpg", jpeg.prefix(jpeg.count / 3), "JPEG"),
            ("text.png", Data("hello, not an image".utf8), "not a JPEG or PNG"),
            ("header.png", Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]), "PNG"),
        ]
        for (name, data, message) in cases {
            let path = scratch.file(name)
            try data.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ImageDecoder.decode(path: path), name) { error in
                XCTAssertTrue("\(error)".contains(message), "\(name): \(error)")
            }
        }
    }
}

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
        let second = try vggconv("gradcam", Samples.path("vgg_small.pth"), Samples.path("images/\(manifest.order[0])"), "--top", "2",
                                 "--png", scratch.file("second.png"))
        XCTAssertTrue(second.stdout.contains("class \(manifest.torch.top5[0][1]) "), second.stdout)
        let notop = try vggconv("gradcam", Samples.path("vgg_notop.pth"), Samples.path("images/rocket.jpg"), "--png", scratch.file("x.png"))
        XCTAssertEqual(notop.status, 2)
        XCTAssertTrue(notop.stderr.contains("Grad-CAM needs a classifier"), notop.stderr)
        let early = try vggconv("gradcam", Samples.path("vgg_small.pth"), Samples.path("images/rocket.jpg"), "--layer", "block1_conv1", "--png", scratch.file("y.png"))
        XCTAssertEqual(early.status, 2)
        XCTAssertTrue(early.stderr.contains("backward pass covers"), early.stderr)
    }
}

/// torchvision's Resize + CenterCrop computed only over the pixels the crop keeps: the same bytes as
/// resizing everything and cropping, in memory bounded by the crop for any aspect ratio.
final class ResizeWindowTests: XCTestCase {
    private func image(width: Int, height: Int, seed: Int) -> RGBImage {
        var state = UInt32(truncatingIfNeeded: seed &* 2_654_435_761 | 1)
        let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            return UInt8(truncatingIfNeeded: state)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The crop of the whole resized image, with torchvision's rounding and zero padding, written out here.
    private func resizeThenCrop(_ image: RGBImage, width: Int, height: Int, cropWidth: Int, cropHeight: Int) -> [UInt8] {
        let resized = PILResize.bilinear(image, width: width, height: height)
        let top = Int((Double(height - cropHeight) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(width - cropWidth) / 2).rounded(.toNearestOrEven))
        var out = [UInt8](repeating: 0, count: cropWidth * cropHeight * 3)
        for y in 0..<cropHeight {
            for x in 0..<cropWidth where (0..<height).contains(y + top) && (0..<width).contains(x + left) {
                for c in 0..<3 { out[(y * cropWidth + x) * 3 + c] = resized.pixels[((y + top) * width + x + left) * 3 + c] }
            }
        }
        return out
    }

    func testWindowEqualsResizingEverythingThenCropping() {
        let cases: [(Int, Int, Int, Int, Int, Int)] = [  // image w, h, resized w, h, crop w, h
            (40, 30, 48, 36, 32, 32), (300, 7, 36, 36, 32, 32), (3, 200, 36, 2400, 32, 32), (17, 17, 17, 17, 8, 9),
            (20, 25, 10, 12, 16, 16), (64, 48, 64, 40, 30, 50), (1, 1, 5, 5, 7, 3), (50, 50, 25, 25, 25, 25),
        ]
        for (index, (w, h, rw, rh, cw, ch)) in cases.enumerated() {
            let source = image(width: w, height: h, seed: index)
            let window = PILResize.bilinearCenterCrop(source, width: rw, height: rh, cropWidth: cw, cropHeight: ch)
            XCTAssertEqual([window.width, window.height], [cw, ch])
            XCTAssertEqual(window.pixels, resizeThenCrop(source, width: rw, height: rh, cropWidth: cw, cropHeight: ch),
                           "\(w)×\(h) → \(rw)×\(rh), crop \(cw)×\(ch)")
        }
    }

    /// A 1×60,000 gray PNG (197 bytes): torchvision's Resize(256) would make it 256×15,360,000 pixels
    /// (11.8 GB); only the 224×224 crop is computed.
    func testAnElongatedPhotoCostsOnlyItsCrop() throws {
        let scratch = TemporaryDirectory()
        defer { scratch.remove() }
        let path = scratch.file("tall.png")
        try Data(PNGFixture.gray(width: 1, height: 60_000, value: 128)).write(to: URL(fileURLWithPath: path))
        let decoded = try ImageDecoder.decode(path: path)
        XCTAssertEqual([decoded.width, decoded.height], [1, 60_000])
        let crop = Preprocessing.torch.resize(decoded, height: 224, width: 224)
        XCTAssertEqual([crop.width, crop.height], [224, 224])
        XCTAssertEqual(Set(crop.pixels), [128], "a uniform image stays uniform")
    }
}

/// A valid 8-bit grayscale PNG, written with zlib's stored (uncompressed) blocks.
enum PNGFixture {
    static func gray(width: Int, height: Int, value: UInt8) -> [UInt8] {
        var raw: [UInt8] = []
        for _ in 0..<height { raw.append(0); raw += [UInt8](repeating: value, count: width) }
        var zlib: [UInt8] = [0x78, 0x01]
        var position = 0
        repeat {
            let count = min(65_535, raw.count - position)
            zlib.append(position + count == raw.count ? 1 : 0)
            zlib += [UInt8(count & 0xFF), UInt8(count >> 8), UInt8(~count & 0xFF), UInt8(~count >> 8 & 0xFF)]
            zlib += raw[position..<(position + count)]
            position += count
        } while position < raw.count
        var (a, b): (UInt32, UInt32) = (1, 0)
        for byte in raw { a = (a + UInt32(byte)) % 65_521; b = (b + a) % 65_521 }
        zlib += bigEndian(b << 16 | a)
        func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            return bigEndian(UInt32(data.count)) + body + bigEndian(body.withUnsafeBytes { CRC32.of($0) })
        }
        let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, 0, 0, 0, 0]
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", [])
    }
}
