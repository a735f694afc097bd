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
