/**
 * The `data:` payloads of a Server-Sent Events body, one per event, as they arrive (multi-line
 * data joined with newlines; `[DONE]` included, events without data skipped).
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
	let buffer = '';
	const decoder = new TextDecoder();
	for await (const bytes of body) {
		buffer += decoder.decode(bytes, { stream: true });
		let end: number;
		while ((end = buffer.indexOf('\n\n')) >= 0) {
			const event = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			const data = event
				.split('\n')
				.filter((line) => line.startsWith('data: '))
				.map((line) => line.slice(6))
				.join('\n');
			if (data) yield data;
		}
	}
}
