import FulcrumAddress
import FulcrumVRRP
import XCTest

final class IPv4HeaderTests: XCTestCase {
    private let captured = bytes(hex: "45c0002000010000ff70147dc612000be0000012312ac801000a99a6c6120064")

    func testParsesTheCapturedHeader() throws {
        let header = try XCTUnwrap(IPv4Header.parse(captured))
        XCTAssertEqual(header.source, ip("198.18.0.11"))
        XCTAssertEqual(header.destination, ip("224.0.0.18"))
        XCTAssertEqual(header.ttl, 255)
        XCTAssertEqual(header.protocolNumber, 112)
        XCTAssertEqual(header.payload, 20..<32)
    }

    /// Ethernet pads short frames to 60 bytes; the total length says where the packet ends.
    func testPaddingAfterTotalLengthIsLeftOut() throws {
        let padded = captured + [UInt8](repeating: 0, count: 14)
        XCTAssertEqual(IPv4Header.parse(padded)?.payload, 20..<32)
    }

    func testOptionsMoveThePayload() throws {
        // IHL 6: one word of options (a NOP-padded router alert), total length 36.
        var withOptions = Array(captured[0..<20]) + [0x94, 0x04, 0x00, 0x00] + Array(captured[20...])
        withOptions[0] = 0x46
        withOptions[3] = 36
        XCTAssertEqual(IPv4Header.parse(withOptions)?.payload, 24..<36)
    }

    func testIndicesAreThoseOfTheGivenSlice() throws {
        let buffer = [UInt8](repeating: 0xAA, count: 14) + captured
        let header = try XCTUnwrap(IPv4Header.parse(buffer[14...]))
        XCTAssertEqual(header.payload, 34..<46)
        XCTAssertEqual(buffer[header.payload].first, 0x31)
    }

    func testRejectsMalformedHeaders() {
        func mutated(_ change: (inout [UInt8]) -> Void) -> [UInt8] {
            var copy = captured
            change(&copy)
            return copy
        }
        let cases: [(String, [UInt8])] = [
            ("empty", []),
            ("19 bytes", Array(captured[0..<19])),
            ("version 6", mutated { $0[0] = 0x65 }),
            ("IHL 4", mutated { $0[0] = 0x44 }),
            ("IHL beyond the bytes", mutated { $0[0] = 0x4F }),
            ("total length beyond the bytes", mutated { $0[3] = 33 }),
            ("total length inside the header", mutated { $0[3] = 19 }),
            ("more fragments", mutated { $0[6] = 0x20 }),
            ("fragment offset", mutated { $0[7] = 0x01 }),
        ]
        for (name, bytes) in cases {
            XCTAssertNil(IPv4Header.parse(bytes), name)
        }
        XCTAssertNotNil(IPv4Header.parse(mutated { $0[6] = 0x40 }), "don't-fragment is fine")
    }
}
