/**
 * The phone's own storage (IndexedDB): the outbox of actions not yet sent, and a few remembered
 * values (the last day seen, the job on screen). IndexedDB keeps Blobs, so a photo taken without
 * a signal waits here as the JPEG the phone made, byte for byte what will be uploaded.
 */

const DB_NAME = "routeboard-tech";
const DB_VERSION = 1;
export const OUTBOX = "outbox"; // keyPath "seq": the order the actions were taken in
export const KV = "kv";

let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) {
          db.createObjectStore(OUTBOX, { keyPath: "seq", autoIncrement: true });
        }
        if (!db.objectStoreNames.contains(KV)) db.createObjectStore(KV);
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => {
        opening = null;
        reject(request.error);
      };
    });
  }
  return opening;
}

/** Run ``work(store)`` in one transaction; resolves with what its last request produced. */
async function run(storeName, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(storeName, mode);
    const request = work(tx.objectStore(storeName));
    let result;
    if (request) request.onsuccess = () => { result = request.result; };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** Every outbox item, oldest first. */
export function allItems() {
  return run(OUTBOX, "readonly", (store) => store.getAll());
}

/** Store a new item; resolves with its sequence number. */
export function addItem(item) {
  return run(OUTBOX, "readwrite", (store) => store.add(item));
}

export function putItem(item) {
  return run(OUTBOX, "readwrite", (store) => store.put(item));
}

export function deleteItem(seq) {
  return run(OUTBOX, "readwrite", (store) => store.delete(seq));
}

export function getValue(key) {
  return run(KV, "readonly", (store) => store.get(key));
}

export function setValue(key, value) {
  return run(KV, "readwrite", (store) => store.put(value, key));
}
