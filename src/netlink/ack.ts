/**
 * Decoding of netlink acknowledgements: `struct nlmsgerr` and the extended-ack TLVs
 * (NLMSGERR_ATTR_MSG text, offset of the bad attribute, missing attribute) that follow it.
 */
import { NLM_F, NLMSGERR_ATTR } from './constants.ts';
import { Attrs, align4, readS32, readU32, NLMSG_HDRLEN } from './message.ts';

/** A decoded NLMSG_ERROR (or NLMSG_DONE) payload. */
export interface NetlinkAck {
  /** 0 for a positive ACK, else -errno. */
  error: number;
  /** The kernel's extended-ack text (NLMSGERR_ATTR_MSG): an error reason or, on success, a warning. */
  message?: string;
  /** Byte offset of the offending attribute in the original request (NLMSGERR_ATTR_OFFS). */
  offset?: number;
  /** Type of a missing attribute (NLMSGERR_ATTR_MISS_TYPE). */
  missingType?: number;
  /** Sequence number of the request the ack answers (from the echoed header). */
  seq?: number;
}

/**
 * Decode the payload of an NLMSG_ERROR message with the given nlmsg flags.
 * Layout: s32 error, the echoed request (header only when NLM_F_CAPPED or on success with
 * capping, else the whole request), then TLVs when NLM_F_ACK_TLVS is set.
 */
export function decodeErrorPayload(payload: Buffer, flags: number): NetlinkAck {
  if (payload.length < 4) return { error: -71 /* EPROTO */, message: 'truncated NLMSG_ERROR' };
  const ack: NetlinkAck = { error: readS32(payload, 0) };
  let echoedLen = 0;
  if (payload.length >= 4 + NLMSG_HDRLEN) {
    const origLen = readU32(payload, 4);
    ack.seq = readU32(payload, 4 + 8);
    echoedLen = flags & NLM_F.CAPPED ? NLMSG_HDRLEN : origLen;
  }
  if (flags & NLM_F.ACK_TLVS) {
    // echoedLen comes from the wire: bound it before aligning (align4 works on 32-bit ints).
    if (echoedLen >= 0 && echoedLen <= payload.length) {
      const tlvOff = align4(4 + echoedLen);
      if (tlvOff <= payload.length) decodeTlvs(Attrs.parse(payload, tlvOff), ack);
    }
  }
  return ack;
}

/** Decode an NLMSG_DONE payload: s32 status, then TLVs when NLM_F_ACK_TLVS is set. */
export function decodeDonePayload(payload: Buffer, flags: number): NetlinkAck {
  const ack: NetlinkAck = { error: payload.length >= 4 ? readS32(payload, 0) : 0 };
  if (flags & NLM_F.ACK_TLVS && payload.length > 4) decodeTlvs(Attrs.parse(payload, 4), ack);
  return ack;
}

function decodeTlvs(a: Attrs, ack: NetlinkAck): void {
  const msg = a.str(NLMSGERR_ATTR.MSG);
  if (msg) ack.message = msg;
  const offs = a.u32(NLMSGERR_ATTR.OFFS);
  if (offs !== undefined) ack.offset = offs;
  const miss = a.u32(NLMSGERR_ATTR.MISS_TYPE);
  if (miss !== undefined) ack.missingType = miss;
}
