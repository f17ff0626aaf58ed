// A `start` asks to become a call, and the server may say no: a missing or spent stream token, a
// callSid that is already live, no free slot. This is the call's side of that question; the
// server's answer is ../start-admission.ts.

/** What a valid `start` asks to be admitted with. */
export interface StartRequest {
  callSid: string;
  customParameters: Readonly<Record<string, string>>;
}

/** Why a start was refused, and what that does to the socket. */
export interface StartRefusal {
  /** The error recorded on the call. */
  code: string;
  message: string;
  /** The call's end reason, also the close frame's reason. */
  reason: string;
  closeCode: number;
}

/** Null: admitted; from then on the call holds one of the server's call slots. */
export type AdmitStart = (request: StartRequest) => StartRefusal | null;
