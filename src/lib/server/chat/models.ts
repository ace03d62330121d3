import { createOpenAI } from '@ai-sdk/openai';
import type { LanguageModelV4 } from '@ai-sdk/provider';
import type { ChatConfig } from '../config';
import { createDemoModel, DEMO_MODEL_ID } from './demo-model';

export interface ChatModelInfo {
	id: string;
	label: string;
	/** Credits per 1,000 tokens. */
	rate: number;
}

export interface ModelRegistry {
	models: ChatModelInfo[];
	defaultModelId: string;
	find(id: string): ChatModelInfo | undefined;
	languageModel(id: string): LanguageModelV4;
}

/** The selectable models: CHAT_MODELS on the configured upstream, or the offline demo model. */
export function createModelRegistry(config: ChatConfig): ModelRegistry {
	if (!config.upstream) {
		const demo = createDemoModel({ delayMs: config.demoDelayMs });
		const models = [{ id: DEMO_MODEL_ID, label: 'Demo (offline)', rate: 1 }];
		return registry(models, () => demo);
	}
	const { apiKey, baseURL, style } = config.upstream;
	const provider = createOpenAI({ apiKey, baseURL });
	const models = config.models.map((m) => ({ ...m, label: m.id }));
	return registry(models, (id) => (style === 'chat' ? provider.chat(id) : provider.responses(id)));
}

function registry(
	models: ChatModelInfo[],
	languageModel: (id: string) => LanguageModelV4
): ModelRegistry {
	return {
		models,
		defaultModelId: models[0].id,
		find: (id) => models.find((m) => m.id === id),
		languageModel
	};
}
