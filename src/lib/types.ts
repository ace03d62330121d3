// Shapes shared with the browser. Never import server code from here.

export interface CurrentUser {
	id: string;
	name: string;
	email: string;
	isAdmin: boolean;
}
