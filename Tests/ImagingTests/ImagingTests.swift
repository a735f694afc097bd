import Foundation
import Imaging
import TestSupport
import FileIO
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
