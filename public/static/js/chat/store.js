// The chat page's state: who I am, my rooms, who is online, and the open conversation.
// Modules read it directly and change it only through these functions or their own fields.
import { currentUser } from "../ui.js";

const LAST_ROOM_KEY = "parley:last-room:";

export const state = {
  me: { ...currentUser(), avatar_url: null },
  rooms: new Map(), // id -> room object as GET /rooms gives it
  online: new Set(), // ids of online users
  currentRoomId: null,
  myRole: null, // my role in the open room: "owner", "member" or null
  members: [], // members of the open room
  messages: new Map(), // id -> message of the open room (confirmed by the server)
  hasMore: false, // older history exists beyond the oldest held message
  pending: new Map(), // room id -> Map(client_id -> {client_id, content, status, error})
  connected: false,
};

/** A new client_id: crypto.randomUUID where it exists, else 16 random bytes as hex. */
export function newClientId() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** Whether I am an admin of the whole site. */
export function isAdmin() {
  return state.me.role === "admin";
}

/** Whether I may manage the open room (its owners and admins). */
export function canManageOpenRoom() {
  return isAdmin() || state.myRole === "owner";
}

/** The open room's object, or null. */
export function openRoom() {
  return state.rooms.get(state.currentRoomId) || null;
}

/** The name people see for a room: the peer's name for direct rooms. */
export function roomLabel(room) {
  if (room.kind === "direct") return room.peer?.name || "Direct message";
  return room.name;
}

/** The pending (unconfirmed) sends of a room, created on demand. */
export function pendingOf(roomId) {
  if (!state.pending.has(roomId)) state.pending.set(roomId, new Map());
  return state.pending.get(roomId);
}

/** Remember the room the user had open, per user, for the next visit. */
export function rememberRoom(roomId) {
  try {
    localStorage.setItem(LAST_ROOM_KEY + state.me.id, String(roomId));
  } catch {
    // storage may be disabled; the first room opens instead
  }
}

/** The room the user had open last time, or null. */
export function rememberedRoom() {
  try {
    const value = Number(localStorage.getItem(LAST_ROOM_KEY + state.me.id));
    return Number.isInteger(value) && value > 0 ? value : null;
  } catch {
    return null;
  }
}

/** The catch-up point: the newest held id created 5 s before the newest held message (README). */
export function catchUpSinceId() {
  const held = [...state.messages.values()];
  if (held.length === 0) return null;
  const newest = Math.max(...held.map((message) => Date.parse(message.created_at)));
  const settled = held.filter((message) => Date.parse(message.created_at) <= newest - 5000);
  if (settled.length > 0) return Math.max(...settled.map((message) => message.id));
  // Every held message is recent: ask again from just before the oldest one.
  return Math.min(...held.map((message) => message.id)) - 1;
}
